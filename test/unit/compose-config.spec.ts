import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { environmentSchema, loadConfig } from '../../libs/config/src';

const root = resolve(__dirname, '../..');
// Compose v2 from Debian's package, fetched by scripts/ensure-compose.sh (npm test runs it).
const COMPOSE = process.env.SILO_COMPOSE ?? resolve(root, '.cache/tools/docker-compose');
const haveCompose = existsSync(COMPOSE);
if (!haveCompose) {
  // Visible in the run's output, as the browser tests' reason is.
  process.stderr.write(
    `compose config tests skipped: no Compose v2 at ${COMPOSE} (bash scripts/ensure-compose.sh)\n`,
  );
}

interface ComposeService {
  build?: { context: string; dockerfile: string };
  image?: string;
  command?: string[];
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  profiles?: string[];
}

/** `docker compose config` as Compose v2 resolves it: interpolated, merged, schema-checked. */
function composeConfig(envFile: Record<string, string>, args: string[] = []): Record<string, ComposeService> {
  const dir = mkdtempSync(join(tmpdir(), 'silo-compose-'));
  const file = join(dir, 'compose.env');
  writeFileSync(
    file,
    Object.entries(envFile)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(''),
  );
  const out = execFileSync(
    COMPOSE,
    [
      '--project-directory',
      root,
      '-f',
      'docker-compose.yml',
      '--env-file',
      file,
      ...args,
      'config',
      '--format',
      'json',
    ],
    // Nothing of this shell's environment: what a newcomer's shell would give.
    {
      cwd: root,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return (JSON.parse(out) as { services: Record<string, ComposeService> }).services;
}

const SILO_SERVICES = ['migrate', 'api', 'worker', 'example-app'];

(haveCompose ? describe : describe.skip)('docker-compose.yml under Docker Compose v2', () => {
  // What `npm run dev` copies to .env, which Compose reads for ${…}.
  const devDotEnv = parseEnv(readFileSync(resolve(root, '.env.example'), 'utf8')) as Record<string, string>;

  // `npm run dev` writes a random secret into the .env it makes; Compose needs one too.
  const secret = { AUTH_JWT_SECRET: randomBytes(32).toString('base64url') };

  it('refuses to start without an AUTH_JWT_SECRET of this checkout, naming it', () => {
    for (const vars of [{}, devDotEnv]) {
      expect(() => composeConfig(vars)).toThrow(/AUTH_JWT_SECRET/);
    }
  });

  it.each([
    ['only a generated AUTH_JWT_SECRET set', secret],
    ['the .env that `npm run dev` writes', { ...devDotEnv, ...secret }],
  ])('is valid and starts every Silo service with a configuration Silo accepts, with %s', (_case, vars) => {
    const services = composeConfig(vars);
    expect(Object.keys(services).sort()).toEqual([
      'api',
      'example-app',
      'migrate',
      'moto',
      'postgres',
      'redis',
      'worker',
    ]);
    const known = Object.keys(environmentSchema.shape);
    for (const name of SILO_SERVICES) {
      const service = services[name];
      expect({ name, context: service.build?.context, dockerfile: service.build?.dockerfile }).toEqual({
        name,
        context: root,
        dockerfile: 'Dockerfile',
      });
      // The command runs a file the build produces from a source in this checkout.
      const [node, entry] = service.command ?? [];
      expect(node).toBe('node');
      expect(existsSync(resolve(root, entry.replace(/^dist\//, '').replace(/\.js$/, '.ts')))).toBe(true);

      const env = Object.fromEntries(
        Object.entries(service.environment ?? {}).filter(
          (e): e is [string, string] => typeof e[1] === 'string',
        ),
      );
      expect({ name, unknown: Object.keys(env).filter((v) => !known.includes(v)) }).toEqual({
        name,
        unknown: [],
      });
      const config = loadConfig({ env, envFile: false });
      expect(config.auth.jwtSecret ?? config.auth.jwksUrl).toBeDefined();
      // moto starts no database servers: tenant instances live on the compose PostgreSQL, reached
      // by its service name (127.0.0.1 inside a container is the container) with its password.
      const admin = new URL(config.tenants.localInstanceAdminUrl ?? 'missing:');
      expect({ name, host: admin.hostname, password: admin.password }).toEqual({
        name,
        host: 'postgres',
        password: services.postgres.environment?.POSTGRES_PASSWORD,
      });
    }
    // Everything a service waits for has a health check to wait on.
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        if (condition === 'service_healthy')
          expect({ name, dependency, health: services[dependency].healthcheck !== undefined }).toEqual({
            name,
            dependency,
            health: true,
          });
      }
    }
    // moto's static dashboard: data.json renders every model and fails once an RDS instance exists.
    expect(services.moto.healthcheck?.test.join(' ')).toContain("http://127.0.0.1:4566/moto-api/')");
    expect(services.api.healthcheck?.test.join(' ')).toContain(
      `127.0.0.1:${services.api.environment?.PORT}/readyz`,
    );
  });

  it('adds LocalStack under its profile, pointed at by SILO_AWS_ENDPOINT', () => {
    const services = composeConfig(
      {
        ...secret,
        LOCALSTACK_AUTH_TOKEN: 'placeholder',
        SILO_AWS_ENDPOINT: 'http://localstack:4566',
        SILO_COMPOSE_INSTANCE_ADMIN_URL: '',
      },
      ['--profile', 'localstack'],
    );
    expect(services.localstack?.image).toMatch(/^localstack\/localstack-pro:/);
    expect(services.api.environment?.AWS_ENDPOINT_URL).toBe('http://localstack:4566');
    for (const name of SILO_SERVICES) expect(services[name].environment?.AWS_EMULATOR).toBe('true');
    // Empty: LocalStack's RDS runs real servers, so no local instance backend.
    expect(services.worker.environment?.LOCAL_INSTANCE_ADMIN_URL ?? '').toBe('');
  });

  it('refuses what Compose v2 would refuse: the check is real', () => {
    expect(() => composeConfig(secret, ['-f', 'test/fixtures/compose/invalid.override.yml'])).toThrow(
      /Command failed/,
    );
  });
});
