// Copies what the build needs besides compiled code into dist/, replacing what an earlier build
// left there (a migration removed from the source must not linger in dist/).
import { cpSync, rmSync } from 'node:fs';

const ASSETS = [['libs/tenant-schema/migrations', 'dist/libs/tenant-schema/migrations']];

for (const [from, to] of ASSETS) {
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true });
}
