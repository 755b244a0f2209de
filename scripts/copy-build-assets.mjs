// Copies what the build needs besides compiled code into dist/, replacing what an earlier build
// left there (a migration removed from the source must not linger in dist/).
import { chmodSync, cpSync, existsSync, rmSync } from 'node:fs';

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
