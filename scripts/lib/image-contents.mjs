// `node scripts/lib/image-contents.mjs <rootfs> <buildah-inspect.json>`: what the built image holds,
// checked from its mounted root filesystem (scripts/image-check.sh). Fails, naming each finding,
// when the image runs as root, carries a dev dependency, a test file or a .env, and prints its size.
import { X509Certificate } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const [rootfs, inspectFile] = process.argv.slice(2);
if (!rootfs || !inspectFile) {
  process.stderr.write('usage: image-contents.mjs <rootfs> <inspect.json>\n');
  process.exit(2);
}
const inspect = JSON.parse(readFileSync(inspectFile, 'utf8'));
const config = inspect.OCIv1.config;
const app = join(rootfs, config.WorkingDir ?? '/app');
const findings = [];

// The user: named in the image config, and not uid 0 in the image's own /etc/passwd.
const user = config.User ?? '';
const passwd = readFileSync(join(rootfs, 'etc/passwd'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => line.split(':'));
const entry = passwd.find(([name, , uid]) => name === user.split(':')[0] || uid === user.split(':')[0]);
if (!user) findings.push('the image has no USER: it would run as root');
else if (!entry) findings.push(`USER ${user} is not in the image's /etc/passwd`);
else if (entry[2] === '0') findings.push(`USER ${user} is uid 0`);

// Dev dependencies: every package the lock file the image was built from (this checkout's) marks
// dev-only must be absent from node_modules.
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const devOnly = Object.entries(lock.packages)
  .filter(([path, meta]) => path.startsWith('node_modules/') && meta.dev === true)
  .map(([path]) => path);
const present = devOnly.filter((path) => existsSync(join(app, path)));
if (present.length)
  findings.push(
    `${present.length} dev-only packages in node_modules, e.g. ${present.slice(0, 5).join(', ')}`,
  );

// Amazon RDS's CA bundle, where the services stack points TENANT_DB_CA_FILE and NODE_EXTRA_CA_CERTS
// (infra/lib/image-reference.ts): present, and holding RDS certificates still valid today.
const CA_BUNDLE = 'dist/certs/rds-ca-bundle.pem';
let caSummary = 'missing';
if (!existsSync(join(app, CA_BUNDLE))) findings.push(`no RDS CA bundle at ${CA_BUNDLE}`);
else {
  const pems =
    readFileSync(join(app, CA_BUNDLE), 'utf8').match(
      /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g,
    ) ?? [];
  const certs = pems.map((pem) => new X509Certificate(pem));
  const valid = certs.filter((c) => /Amazon RDS/.test(c.subject) && new Date(c.validTo) > new Date());
  caSummary = `${certs.length} certificates, ${valid.length} of Amazon RDS valid today`;
  if (valid.length === 0) findings.push(`${CA_BUNDLE} holds no Amazon RDS certificate valid today`);
}

// Test files and environment files anywhere under the app directory.
const TEST_FILE = /\.(spec|int-spec|e2e-spec|test)\.[cm]?[jt]sx?$/;
const tests = [];
const envFiles = [];
const bytes = { node_modules: 0, dist: 0, other: 0 };
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const rel = relative(app, path);
    const stat = lstatSync(path);
    if (stat.isDirectory()) {
      if (!rel.startsWith('node_modules') && (name === 'test' || name === '__tests__')) tests.push(rel + '/');
      walk(path);
      continue;
    }
    const top = rel.split('/')[0];
    bytes[top in bytes ? top : 'other'] += stat.size;
    if (name === '.env' || (name.startsWith('.env.') && name !== '.env.example')) envFiles.push(rel);
    if (!rel.startsWith('node_modules') && TEST_FILE.test(name)) tests.push(rel);
  }
}
walk(app);
for (const dir of ['root', 'home/node']) {
  if (existsSync(join(rootfs, dir, '.env'))) envFiles.push(`/${dir}/.env`);
}
if (tests.length)
  findings.push(`test files: ${tests.slice(0, 5).join(', ')}${tests.length > 5 ? ', …' : ''}`);
if (envFiles.length) findings.push(`.env files: ${envFiles.join(', ')}`);

const layers = JSON.parse(inspect.Manifest).layers.map((l) => l.size);
const mb = (n) => `${(n / 1e6).toFixed(0)} MB`;
process.stdout.write(
  `image-check: user ${user} (uid ${entry?.[2] ?? '?'}); ${devOnly.length} dev-only packages in the lock, none present: ${present.length === 0}; RDS CA bundle: ${caSummary}\n` +
    `image-check: size ${mb(layers.reduce((a, b) => a + b, 0))} uncompressed (layers: ${layers.map(mb).join(' + ')}); ` +
    `/app: node_modules ${mb(bytes.node_modules)}, dist ${mb(bytes.dist)}, other ${mb(bytes.other)}\n`,
);
if (findings.length) {
  process.stderr.write(
    `image-check: the image is not fit to ship:\n${findings.map((f) => `  - ${f}`).join('\n')}\n`,
  );
  process.exit(1);
}
