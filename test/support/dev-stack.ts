import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { quoteIdentifier } from '../../libs/core/src';
import { LocalPostgresCluster, stopClustersUnder } from '../../libs/tenant-schema/src/local-postgres-cluster';
import { freePort } from './free-port';
import { builtEntry, REPO_ROOT, SiloProcess } from './silo-process';
import { testEnvironment, uniqueToken } from './test-config';
import { databaseUrl, testServices } from './test-services';

const emulatorScript = resolve(REPO_ROOT, 'scripts/aws-emulator.sh');

/** A client of the test server's admin database for `fn`. */
export async function withAdmin<T>(fn: (admin: Client) => Promise<T>): Promise<T> {
  const admin = new Client({ connectionString: testServices.postgresAdminUrl });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

/**
 * `npm run dev` as the stack's own, run several times: each stack here has its own database, its own
 * emulator port, its own SILO_EMULATOR_STATE_DIR and its own SILO_DEV_CLUSTERS_DIR (the local
 * instance backend's clusters dev starts, under this run's test clusters), never the developer's
 * .cache state.
 */
export class DevStack {
  readonly stateDir = mkdtempSync(join(tmpdir(), 'silo-dev-state-'));
  readonly clustersDir = join(process.env.SILO_TEST_CLUSTERS_DIR ?? tmpdir(), `dev-${uniqueToken()}`);
  readonly database = `silo_dev_restart_${uniqueToken()}`;
  env: Record<string, string> = {};
  apiPort = 0;
  examplePort = 0;
  emulatorPort = 0;
  runs: SiloProcess[] = [];

  async init(emulatorPort?: number): Promise<this> {
    this.apiPort = await freePort();
    this.examplePort = await freePort();
    this.emulatorPort = emulatorPort ?? (await freePort());
    this.env = {
      ...testEnvironment({
        PORT: String(this.apiPort),
        EXAMPLE_APP_PORT: String(this.examplePort),
        AWS_ENDPOINT_URL: `http://127.0.0.1:${this.emulatorPort}`,
        DATABASE_URL: databaseUrl(testServices.postgresAdminUrl, this.database),
        SILO_EMULATOR_STATE_DIR: this.stateDir,
        SILO_DEV_CLUSTERS_DIR: this.clustersDir,
        LOG_LEVEL: 'info',
        // Saga waits short enough to watch a tenant reach ACTIVE.
        WAIT_INITIAL_DELAY_MS: '50',
        WAIT_MAX_DELAY_MS: '200',
        RETRY_BASE_DELAY_MS: '50',
        RETRY_MAX_DELAY_MS: '200',
        OUTBOX_POLL_MS: '50',
      }),
      SILO_ENV_FILE: resolve(REPO_ROOT, '.env.example'),
    };
    return this;
  }

  get api(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  get recording(): string {
    return join(this.stateDir, 'moto-recording.jsonl');
  }

  spawn(args: string[] = [], env: Record<string, string> = {}): SiloProcess {
    const dev = SiloProcess.group('bash', ['scripts/dev.sh', '--no-build', ...args], { ...this.env, ...env });
    this.runs.push(dev);
    return dev;
  }

  async start(args: string[] = [], env: Record<string, string> = {}): Promise<SiloProcess> {
    const dev = this.spawn(args, env);
    await dev.waitFor(() => dev.stderr.includes('dev: ready:'), 'the ready banner', 150_000);
    await dev.waitFor(() => dev.logLines().some((l) => l.msg === 'worker ready'), '"worker ready"');
    return dev;
  }

  /** Ctrl-C, as a terminal sends it to the foreground process group. */
  async stop(dev: SiloProcess): Promise<void> {
    process.kill(-dev.pid, 'SIGINT');
    expect(await dev.exitWithin(60_000)).toEqual({ code: 0, signal: null });
  }

  async token(args: string[]): Promise<string> {
    const cli = SiloProcess.node(builtEntry('libs/auth/src/cli/token.cli.js'), this.env, args);
    expect(await cli.exitWithin(15_000)).toEqual({ code: 0, signal: null });
    return cli.stdout.trim();
  }

  async cleanUp(): Promise<void> {
    for (const dev of this.runs) dev.kill();
    execFileSync('bash', [emulatorScript, 'stop', String(this.emulatorPort)]);
    await withAdmin((admin) =>
      admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(this.database)} WITH (FORCE)`),
    );
    rmSync(this.stateDir, { recursive: true, force: true });
    stopClustersUnder(this.clustersDir, 1);
    rmSync(this.clustersDir, { recursive: true, force: true });
  }

  /**
   * The cluster dev runs the default region's tenant instances on, as dev leaves it in its
   * directory (made there when dev has not run yet; dev then takes it over).
   */
  instanceCluster(): Promise<LocalPostgresCluster> {
    return LocalPostgresCluster.open({ dir: join(this.clustersDir, 'us-east-1') });
  }
}
