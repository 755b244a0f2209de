// One jest run, three projects: unit (*.spec.ts, no I/O), integration (*.int-spec.ts: real
// PostgreSQL, Redis and the AWS emulator over HTTP), e2e (test/e2e: built processes over HTTP);
// a fourth, image, under `npm run image:check` only.
const { readFileSync } = require('node:fs');

const { compilerOptions } = JSON.parse(readFileSync(`${__dirname}/tsconfig.json`, 'utf8'));

// swc rewrites the @silo/* path aliases itself, so they resolve in global setup too (which runs
// outside jest's module registry and so ignores moduleNameMapper).
const swcConfig = {
  jsc: {
    baseUrl: __dirname,
    paths: compilerOptions.paths,
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
    keepClassNames: true,
  },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
};

const common = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest', swcConfig] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.cache/'],
  // .cache holds the image store (npm run image:check): whole root filesystems, package.json included.
  modulePathIgnorePatterns: ['<rootDir>/.cache/'],
  setupFilesAfterEnv: ['<rootDir>/test/support/setup-after-env.ts'],
};

module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: [
        '<rootDir>/{apps,libs}/**/*.spec.ts',
        '<rootDir>/test/unit/**/*.spec.ts',
        '<rootDir>/infra/test/**/*.spec.ts',
      ],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/{apps,libs,infra}/**/*.int-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
    // The built image's entry points (test/image), only under `npm run image:check`, which builds
    // and mounts the image first.
    ...(process.env.SILO_IMAGE_ROOTFS
      ? [
          {
            ...common,
            displayName: 'image',
            testMatch: ['<rootDir>/test/image/**/*.image-spec.ts'],
            globalSetup: '<rootDir>/test/support/global-setup.ts',
            globalTeardown: '<rootDir>/test/support/global-teardown.ts',
          },
        ]
      : []),
  ],
};
