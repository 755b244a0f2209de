// The local stack for `npm run dev`: build, validate configuration, make sure PostgreSQL and Redis
// answer, start the AWS emulator, migrate, then run the API, the worker and the example tenant
// app until Ctrl-C, which stops everything this started.
import { spawn, spawnSync } from 'node:child_process';
import { URLSearchParams } from 'node:url';
import { copyFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--no-build');
if (unknown.length) fail(`unknown argument(s) ${unknown.join(' ')}; usage: npm run dev [-- --no-build]`, 2);

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

let emulatorPort;
if (config.aws.endpoint) {
  const endpoint = new URL(config.aws.endpoint);
  if (['127.0.0.1', 'localhost'].includes(endpoint.hostname)) {
    const port = endpoint.port || '80';
    const status = spawnSync('bash', [resolve(root, 'scripts/aws-emulator.sh'), 'status', port]);
    if (status.status === 0) {
      say(`an AWS emulator already answers on ${config.aws.endpoint}; using it (it is left running)`);
    } else {
      runOrFail('starting the AWS emulator', 'bash', [
        resolve(root, 'scripts/aws-emulator.sh'),
        'start',
        port,
      ]);
      emulatorPort = port;
    }
  } else {
    say(`AWS_ENDPOINT_URL is ${endpoint.origin}: not starting a local emulator`);
  }
} else {
  say('AWS_ENDPOINT_URL is unset: the worker talks to real AWS');
}

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
    spawnSync('bash', [resolve(root, 'scripts/aws-emulator.sh'), 'stop', emulatorPort], { stdio: 'inherit' });
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
  stopEmulator();
  say('stopped');
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGHUP', () => void shutdown(0));

try {
  runOrFail('migrate', 'node', [
    resolve(root, 'dist/libs/control-plane-db/src/cli/migrate.js'),
    '--create-database',
  ]);
} catch (error) {
  stopEmulator();
  throw error;
}

function start(name, entry) {
  const child = spawn('node', ['--enable-source-maps', resolve(root, entry)], {
    cwd: root,
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
start('example-app', 'dist/apps/example-tenant-app/src/main.js');

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
