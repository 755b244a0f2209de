import { defineConfig } from 'tsup';
import packageJson from './package.json';

// The package's three entry points, bundled to CommonJS with one shared chunk (so that the Nest
// entry and the main one hold the same TenantRouter class) and declarations. What it uses of
// Silo's other libraries (@silo/core's names and guards, @silo/auth's verifier, @silo/http's
// problem details) is bundled in; its dependencies and peers are not.
export default defineConfig({
  entry: { index: 'src/index.ts', nest: 'src/nest/index.ts', metrics: 'src/metrics/index.ts' },
  outDir: 'dist',
  format: ['cjs'],
  target: 'node20',
  platform: 'node',
  splitting: true,
  // Rollup, not sucrase, turns the shared ESM chunks into CommonJS (sucrase's rewrite of class
  // fields with parameter properties is not valid JavaScript).
  treeshake: true,
  dts: { resolve: [/^@silo\//] },
  clean: true,
  sourcemap: true,
  tsconfig: 'tsconfig.package.json',
  external: [
    ...Object.keys(packageJson.dependencies),
    ...Object.keys(packageJson.peerDependencies),
    /^typeorm\//,
    'express',
  ],
  noExternal: [/^@silo\//],
});
