// The local stack for `npm run dev`: build, validate configuration, make sure PostgreSQL and Redis
// answer, start the AWS emulator (replaying the state it saved last time) and the local instance
// backend's own PostgreSQL clusters (their data kept in .cache/dev/clusters), migrate and set up the
// data plane's login to the control-plane database, check that the emulator holds the tenants the
// database lists, then run the API, the worker and the example tenant app until Ctrl-C, which
// stops everything this started. `--reset` first deletes the emulator's saved state and the tenants.
import { spawn, spawnSync } from 'node:child_process';
import { URLSearchParams } from 'node:url';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--no-build' && a !== '--reset');
if (unknown.length)
  fail(`unknown argument(s) ${unknown.join(' ')}; usage: npm run dev [-- --no-build] [--reset]`, 2);
const emulatorScript = resolve(root, 'scripts/aws-emulator.sh');
// Where the emulator this script starts keeps its state between runs (moto's recording).
const stateDir = resolve(root, process.env.SILO_EMULATOR_STATE_DIR || '.cache/emulator/dev-state');
const recording = resolve(stateDir, 'moto-recording.jsonl');
// Where the local instance backend's clusters keep their data between runs, one directory each.
const clustersDir = resolve(root, process.env.SILO_DEV_CLUSTERS_DIR || '.cache/dev/clusters');

function say(message) {
  process.stderr.write(`dev: ${message}\n`);
}
function fail(message, code = 1) {
  say(message);
  process.exit(code);
}
function runOrFail(what, command, commandArgs, env = process.env) {
  const result = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit', env });
  if (result.status !== 0) fail(`${what} failed (exit ${result.status ?? result.signal})`);
}

if (!process.env.SILO_ENV_FILE && !existsSync(resolve(root, '.env'))) {
  copyFileSync(resolve(root, '.env.example'), resolve(root, '.env'));
  say('created .env from .env.example (edit it to change the local configuration)');
}
if (!args.includes('--no-build')) runOrFail('build', 'npm', ['run', '--silent', 'build']);

const { ConfigError, ensureOwnDevJwtSecret, loadConfig } = require(
  resolve(root, 'dist/libs/config/src/index.js'),
);
// The development signing secret is this checkout's own: a published one would let anybody mint
// tokens. Only in the .env this script owns, never in a file SILO_ENV_FILE names.
if (!process.env.SILO_ENV_FILE && ensureOwnDevJwtSecret(resolve(root, '.env'))) {
  say('wrote a random AUTH_JWT_SECRET of its own into .env (npm run token signs with it)');
}
let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}

const db = new URL(config.database.url);
const redis = new URL(config.redis.url);
runOrFail('the PostgreSQL/Redis check', 'bash', [
  resolve(root, 'scripts/ensure-services.sh'),
  '--postgres',
  `${db.hostname}:${db.port || 5432}`,
  '--redis',
  `${redis.hostname}:${redis.port || 6379}`,
]);

let emulatorPort; // set when this script started the emulator: it stops it on exit
let localEmulator; // { port, running, saved }: AWS_ENDPOINT_URL is an emulator on this machine
if (config.aws.endpoint) {
  const endpoint = new URL(config.aws.endpoint);
  if (['127.0.0.1', 'localhost'].includes(endpoint.hostname)) {
    const port = endpoint.port || '80';
    localEmulator = { port, ...emulatorOnPort(port) };
  } else {
    say(`AWS_ENDPOINT_URL is ${endpoint.origin}: not starting a local emulator`);
  }
} else {
  say('AWS_ENDPOINT_URL is unset: the worker talks to real AWS');
}

/** Whether an emulator answers on `port`, and whether it is one recording into this state. */
function emulatorOnPort(port) {
  const running = spawnSync('bash', [emulatorScript, 'status', port]).status === 0;
  let records;
  try {
    records = readFileSync(resolve(root, `.cache/emulator/moto-${port}.state`), 'utf8').trim();
  } catch {
    // not started by scripts/aws-emulator.sh
  }
  return { running, saved: running && records === recording };
}

// The local instance backend: the server LOCAL_INSTANCE_ADMIN_URL names when it is set, else
// clusters of its own that this script runs (against an emulator on this machine only).
const ownClusters = !config.tenants.localInstanceAdminUrl && localEmulator !== undefined;
let runningClusters = []; // the clusters this script started: stopped on exit

if (args.includes('--reset')) await reset();

if (localEmulator?.running) {
  say(
    `an AWS emulator already answers on ${config.aws.endpoint}; using it (it is left running` +
      (localEmulator.saved
        ? `, saving its state in ${stateDir})`
        : '; what it holds is its own, not saved by npm run dev)'),
  );
} else if (localEmulator) {
  runOrFail('starting the AWS emulator', 'bash', [
    emulatorScript,
    'start',
    localEmulator.port,
    '--state',
    stateDir,
  ]);
  emulatorPort = localEmulator.port;
  say(
    `the AWS emulator saves its state in ${stateDir} for the next start (npm run dev -- --reset empties it)`,
  );
}

if (ownClusters) await startClusters();

/**
 * Per region, one cluster for its tenant instances and one for its shared hosts (a move between
 * the two needs them apart: a moved tenant has logins of the same names on both). Made on the
 * first start, kept afterwards with their port and superuser password, so the tenants' endpoints
 * stay valid; their URLs go to the processes as LOCAL_INSTANCE_ADMIN_URL(S) and LOCAL_HOST_ADMIN_URLS.
 */
async function startClusters() {
  const { LocalPostgresCluster } = clusterModule();
  const { ensureBaseBackup } = require(resolve(root, 'dist/libs/tenant-schema/src/local-backups.js'));
  const { default: home, names } = config.regions;
  const wanted = names.flatMap((region) => [
    { region, role: 'instances', name: region },
    { region, role: 'hosts', name: `${region}-hosts` },
  ]);
  const started = Date.now();
  try {
    await Promise.all(
      wanted.map(async (c) => {
        c.cluster = await LocalPostgresCluster.open({ dir: resolve(clustersDir, c.name) });
        await c.cluster.start();
        runningClusters.push(c.cluster);
        // Point-in-time restores recover from a base backup and the archive: one on the first start.
        await ensureBaseBackup(c.cluster);
      }),
    );
  } catch (error) {
    stopClusters();
    stopEmulator();
    fail(
      `could not start the local instance backend's clusters: ${error instanceof Error ? error.message : error}`,
    );
  }
  const url = (region, role) => wanted.find((c) => c.region === region && c.role === role).cluster.adminUrl;
  process.env.LOCAL_INSTANCE_ADMIN_URL = url(home, 'instances');
  const others = names.filter((region) => region !== home);
  if (others.length)
    process.env.LOCAL_INSTANCE_ADMIN_URLS = others.map((r) => `${r}=${url(r, 'instances')}`).join(',');
  process.env.LOCAL_HOST_ADMIN_URLS = names.map((r) => `${r}=${url(r, 'hosts')}`).join(',');
  config = loadConfig();
  say(
    `the local instance backend's clusters (${wanted.map((c) => `${c.name} on 127.0.0.1:${c.cluster.port}`).join(', ')}) ` +
      `keep their data in ${clustersDir} (npm run dev -- --reset empties them); started in ${Date.now() - started} ms`,
  );
}

/** A fast shutdown of the clusters this script started, or an immediate one from an 'exit' handler. */
async function stopClustersGracefully() {
  const clusters = runningClusters;
  runningClusters = [];
  await Promise.all(clusters.map((c) => c.stop().catch(() => undefined)));
}
function stopClusters() {
  for (const cluster of runningClusters.splice(0)) clusterModule().stopClustersUnder(cluster.dir, 0);
}
function clusterModule() {
  return require(resolve(root, 'dist/libs/tenant-schema/src/local-postgres-cluster.js'));
}
process.on('exit', stopClusters);

// Alarms that notify nobody are no alarms: against the emulator, make the topic they notify.
if (config.aws.emulator && config.tenants.alarmActions === 'sns' && !config.tenants.alarmTopicArn) {
  const name = `${config.resources.prefix}-alarms`;
  try {
    process.env.ALARM_SNS_TOPIC_ARN = await createEmulatorTopic(config.aws.endpoint, config.aws.region, name);
    say(`tenant alarms notify the emulator's SNS topic ${process.env.ALARM_SNS_TOPIC_ARN}`);
  } catch (error) {
    stopEmulator();
    fail(
      `could not create the SNS topic ${name} in the emulator: ${error instanceof Error ? error.message : error}`,
    );
  }
}

/** SNS CreateTopic (idempotent) against the emulator's query API; moto does not check the signature. */
async function createEmulatorTopic(endpoint, region, name) {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=local/20260101/${region}/sns/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: new URLSearchParams({ Action: 'CreateTopic', Name: name, Version: '2010-03-31' }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  const arn = /<TopicArn>([^<]+)<\/TopicArn>/.exec(text)?.[1];
  if (!res.ok || !arn) throw new Error(`HTTP ${res.status}`);
  return arn;
}

const children = new Map();
let stopping = false;

function stopEmulator() {
  if (emulatorPort) {
    spawnSync('bash', [emulatorScript, 'stop', emulatorPort], { stdio: 'inherit' });
    emulatorPort = undefined;
  }
}

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  for (const child of children.values()) if (child.exitCode === null) child.kill('SIGTERM');
  const deadline = Date.now() + config.shutdownGraceMs + 5000;
  while (
    [...children.values()].some((c) => c.exitCode === null && c.signalCode === null) &&
    Date.now() < deadline
  ) {
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const [name, child] of children) {
    if (child.exitCode === null && child.signalCode === null) {
      say(`${name} did not stop within the grace period; killing it`);
      child.kill('SIGKILL');
    }
  }
  await stopClustersGracefully();
  stopEmulator();
  say('stopped');
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGHUP', () => void shutdown(0));

try {
  // Then the data plane's login to it: its secret <prefix>/control-plane/data-plane (in the
  // emulator, or AWS) and the password of the role silo_data_plane, which the example app reads
  // the tenant directory as.
  runOrFail('migrate', 'node', [
    resolve(root, 'dist/libs/control-plane-db/src/cli/migrate.js'),
    '--create-database',
    '--data-plane-login',
  ]);
} catch (error) {
  stopEmulator();
  throw error;
}

if (localEmulator) await checkEmulatorHoldsTenants();

function start(name, entry, env = {}) {
  const child = spawn('node', ['--enable-source-maps', resolve(root, entry)], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: 'inherit',
  });
  children.set(name, child);
  child.on('exit', (code, signal) => {
    if (stopping) return;
    say(`${name} exited unexpectedly (${signal ?? `exit ${code}`}); stopping the rest`);
    void shutdown(1);
  });
}

start('api', 'dist/apps/control-plane-api/src/main.js');
start('worker', 'dist/apps/provisioning-worker/src/main.js');
// The example app is configured as an application team's would be (@silo/tenant-router's own
// variables, no DATABASE_URL): its directory login takes TLS as DATABASE_URL's sslmode says,
// and the local backend's databases take none.
const sslmode = db.searchParams.get('sslmode') ?? 'disable';
start('example-app', 'dist/apps/example-tenant-app/src/main.js', {
  TENANT_DIRECTORY_SSL:
    process.env.TENANT_DIRECTORY_SSL || (['require', 'verify-full'].includes(sslmode) ? sslmode : 'disable'),
  ...(config.tenants.localInstanceAdminUrl ? { TENANT_DB_SSL: 'disable' } : {}),
});

const readyUrl = `http://127.0.0.1:${config.http.port}/readyz`;
const exampleUrl = `http://127.0.0.1:${config.exampleApp.port}`;
const readyBy = Date.now() + 60_000;
for (const url of [readyUrl, `${exampleUrl}/healthz`]) {
  while (!stopping) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > readyBy) {
      say(`${url} did not answer 200 within 60 s`);
      await shutdown(1);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}
if (!stopping) {
  say(
    `ready: API http://127.0.0.1:${config.http.port} (try: curl ${readyUrl}), ` +
      `example tenant app ${exampleUrl}; Ctrl-C stops everything`,
  );
}

/** The tenants the silo database lists; none when the database or its tables do not exist yet. */
async function tenantRows() {
  const { Client } = require('pg');
  const client = new Client({
    connectionString: config.database.url,
    connectionTimeoutMillis: config.database.connectTimeoutMs,
    application_name: 'silo-dev',
  });
  try {
    await client.connect();
  } catch (error) {
    if (error?.code === '3D000') return []; // no database yet
    throw error;
  }
  try {
    const { rows } = await client.query(
      `SELECT t.slug, t.status, t.db_instance_identifier AS "instance", t.placement, h.name AS "host"
         FROM tenants t LEFT JOIN hosts h ON h.id = t.host_id ORDER BY t.slug`,
    );
    return rows;
  } catch (error) {
    if (error?.code === '42P01' || error?.code === '42703') {
      // Not migrated yet (no tenants: none), or not yet to shared hosts: every tenant on an instance of its own.
      const { rows } = await client
        .query('SELECT slug, status, db_instance_identifier AS "instance" FROM tenants ORDER BY slug')
        .catch((again) => {
          if (again?.code === '42P01') return { rows: [] };
          throw again;
        });
      return rows.map((r) => ({ ...r, placement: 'instance', host: null }));
    }
    throw error;
  } finally {
    await client.end();
  }
}

/** The silo database, named without its credentials. */
function databaseName() {
  return `${db.pathname.slice(1)} on ${db.hostname}:${db.port || 5432}`;
}

function slugList(tenants) {
  const shown = tenants.slice(0, 10).map((t) => t.slug);
  return tenants.length > shown.length
    ? `${shown.join(', ')} and ${tenants.length - shown.length} more`
    : shown.join(', ');
}

/**
 * `--reset`: says what it deletes, then deletes the emulator's saved state (stopping an emulator
 * that records into it), the silo database (the tenants and everything about them; migrate makes
 * it again), and the databases and roles the local instance backend made for the tenants. Never
 * against AWS.
 */
async function reset() {
  if (!localEmulator) {
    fail(
      '--reset empties the local AWS emulator and the tenants: AWS_ENDPOINT_URL does not name an emulator on this machine, so nothing was deleted',
    );
  }
  const tenants = await tenantRows();
  const saved = existsSync(recording)
    ? readFileSync(recording, 'utf8').split('\n').filter(Boolean).length
    : 0;
  const { tenantResourceNames } = require(resolve(root, 'dist/libs/core/src/index.js'));
  const adminUrl = config.tenants.localInstanceAdminUrl;
  say('--reset deletes:');
  say(
    `  the AWS emulator's saved state ${recording} (${saved ? `${saved} recorded request(s)` : 'nothing saved'})`,
  );
  if (localEmulator.saved)
    say(
      `  everything the emulator on port ${localEmulator.port} holds (it records into that state; it is stopped)`,
    );
  else if (localEmulator.running)
    say(
      `  (not the emulator already running on port ${localEmulator.port}: npm run dev did not start it with that state; it is left as it is)`,
    );
  say(
    `  the database ${databaseName()}, dropped and migrated again: its ${tenants.length} tenant(s)` +
      `${tenants.length ? ` (${slugList(tenants)})` : ''} with their audit trail, steps and changes, ` +
      'the schema rollouts, the reconcile history and the outbox',
  );
  if (ownClusters)
    say(
      `  the local instance backend's clusters in ${clustersDir}, with every tenant database and role in them`,
    );
  else if (adminUrl && tenants.length)
    say('  their databases and roles on the local instance backend (LOCAL_INSTANCE_ADMIN_URL)');

  if (localEmulator.saved) {
    runOrFail('stopping the AWS emulator', 'bash', [emulatorScript, 'stop', localEmulator.port]);
    localEmulator.running = localEmulator.saved = false;
  }
  rmSync(recording, { force: true });
  // Dropped whole: its audit trail is append-only, and migrate creates it again right after.
  const { Client } = require('pg');
  const maintenance = new URL(config.database.url);
  maintenance.pathname = '/postgres';
  const client = new Client({
    connectionString: maintenance.toString(),
    connectionTimeoutMillis: config.database.connectTimeoutMs,
    application_name: 'silo-dev',
  });
  await client.connect();
  try {
    await client.query(
      `DROP DATABASE IF EXISTS ${client.escapeIdentifier(decodeURIComponent(db.pathname.slice(1)))} WITH (FORCE)`,
    );
  } finally {
    await client.end();
  }
  if (ownClusters) {
    clusterModule().stopClustersUnder(clustersDir, 1);
    rmSync(clustersDir, { recursive: true, force: true });
  } else if (adminUrl) {
    const { appLoginRoles, removeLocalInstance } = require(
      resolve(root, 'dist/libs/tenant-schema/src/index.js'),
    );
    for (const tenant of tenants) {
      const names = tenantResourceNames(config.resources.prefix, tenant.slug);
      await removeLocalInstance(adminUrl, {
        database: names.instanceIdentifier,
        roles: [...appLoginRoles(names.appRole), names.appRole, names.masterUsername],
      });
    }
  }
  say('reset: done');
}

/**
 * Tenants the database calls ACTIVE or SUSPENDED need their instance and both secrets: a rollout
 * reads the master secret, the router the app secret. An emulator that lost them (its saved state
 * deleted, or another emulator on the port) would serve every one of them broken: stop instead.
 */
async function checkEmulatorHoldsTenants() {
  try {
    const tenants = (await tenantRows()).filter((t) => t.status === 'ACTIVE' || t.status === 'SUSPENDED');
    if (!tenants.length) return;
    const { RDSClient, DescribeDBInstancesCommand } = require('@aws-sdk/client-rds');
    const { SecretsManagerClient, ListSecretsCommand } = require('@aws-sdk/client-secrets-manager');
    const { hostResourceNames, tenantResourceNames } = require(resolve(root, 'dist/libs/core/src/index.js'));
    const clientConfig = {
      region: config.aws.region,
      endpoint: config.aws.endpoint,
      credentials: config.aws.credentials ?? { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 2,
    };
    const instances = new Set();
    const rds = new RDSClient(clientConfig);
    let marker;
    do {
      const page = await rds.send(new DescribeDBInstancesCommand({ Marker: marker }));
      for (const i of page.DBInstances ?? []) instances.add(i.DBInstanceIdentifier);
      marker = page.Marker;
    } while (marker);
    const secrets = new Set();
    const secretsManager = new SecretsManagerClient(clientConfig);
    let next;
    do {
      const page = await secretsManager.send(new ListSecretsCommand({ NextToken: next }));
      for (const secret of page.SecretList ?? []) secrets.add(secret.Name);
      next = page.NextToken;
    } while (next);
    rds.destroy();
    secretsManager.destroy();

    const broken = [];
    for (const tenant of tenants) {
      const names = tenantResourceNames(config.resources.prefix, tenant.slug);
      // A schema or pool tenant lives on its host: the host's instance and secrets, and a schema
      // tenant's own app secret.
      const host =
        tenant.placement !== 'instance' && tenant.host
          ? hostResourceNames(config.resources.prefix, tenant.host)
          : null;
      const instance = host ? host.instanceIdentifier : (tenant.instance ?? names.instanceIdentifier);
      const needed = host
        ? [host.masterSecretName, tenant.placement === 'pool' ? host.poolAppSecretName : names.appSecretName]
        : [names.masterSecretName, names.appSecretName];
      const missing = [
        ...(instances.has(instance) ? [] : [`instance ${instance}`]),
        ...needed.filter((n) => !secrets.has(n)).map((n) => `secret ${n}`),
      ];
      if (missing.length) broken.push({ slug: tenant.slug, missing });
    }
    if (!broken.length) return;
    stopEmulator();
    say(
      `the database ${databaseName()} lists ${broken.length} ACTIVE or SUSPENDED tenant(s) the AWS emulator on ` +
        `${config.aws.endpoint} does not hold:`,
    );
    for (const { slug, missing } of broken.slice(0, 10)) say(`  ${slug}: no ${missing.join(', no ')}`);
    if (broken.length > 10) say(`  and ${broken.length - 10} more`);
    say(
      'they would be served broken (a rollout needs the master secret, the tenant apps the app secret), so nothing was started.',
    );
    if (localEmulator.running && !localEmulator.saved) {
      say(
        `the emulator on port ${localEmulator.port} was not started by npm run dev with its saved state: ` +
          `stop it (npm run emulator -- stop ${localEmulator.port}, or whatever started it) and run npm run dev again.`,
      );
    } else {
      say(
        `the emulator's saved state (${recording}) does not hold them: it was deleted, or the database is another stack's.`,
      );
    }
    fail(
      'to start over without tenants, run: npm run dev -- --reset (it says what it deletes: the saved emulator state and the tenants)',
    );
  } catch (error) {
    stopEmulator();
    fail(
      `could not compare the tenants with the AWS emulator: ${error instanceof Error ? error.message : error}`,
    );
  }
}
