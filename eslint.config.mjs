// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

const restrict = (...groups) => ({
  'no-restricted-imports': ['error', { patterns: groups }],
});

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      'node_modules/**',
      '.cache/**',
      'coverage/**',
      'infra/cdk.out/**',
      'test/fixtures/**/*.js',
      // An application outside the repository: type-checked by its own tsc against the installed package (test/e2e/router-package).
      'test/fixtures/outside-app/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      'no-console': 'error',
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name=/^(it|describe|test)$/][property.name='only']",
          message: 'Focused tests hide the rest of the suite.',
        },
      ],
    },
  },
  {
    // Nest resolves constructor parameters from emitted type metadata: those imports must stay values.
    files: ['apps/**/*.ts', 'libs/**/*.ts'],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  {
    files: ['apps/**/*.ts', 'libs/**/*.ts'],
    ignores: ['libs/aws/**'],
    rules: restrict(
      { group: ['@aws-sdk/*'], message: 'Only libs/aws talks to the AWS SDK; use its adapters.' },
      { group: ['bullmq'], message: 'Only libs/queue imports bullmq.' },
    ),
  },
  // A later block's no-restricted-imports replaces an earlier one's: these come after the general one.
  {
    files: ['libs/core/**/*.ts'],
    rules: restrict({
      group: ['@nestjs/*', 'typeorm', 'bullmq', 'ioredis', 'pg', '@aws-sdk/*', '@silo/*'],
      message: 'libs/core is the pure domain: no I/O frameworks and no other Silo libraries.',
    }),
  },
  {
    files: ['libs/http/**/*.ts'],
    rules: restrict({
      group: ['@aws-sdk/*', 'bullmq', '@silo/*', '!@silo/observability'],
      message: 'libs/http is the HTTP layer every app shares: no domain, AWS or queue libraries.',
    }),
  },
  {
    // An npm package of its own (@silo/tenant-router): it reads Secrets Manager itself, and of
    // Silo's other libraries takes only single pure modules of core, auth and http, which its
    // build bundles in. Anything else would drag the control plane into applications.
    files: ['libs/tenant-router/src/**/*.ts'],
    ignores: ['libs/tenant-router/src/**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['@silo/core', '@silo/auth', '@silo/http'].map((name) => ({
            name,
            message:
              "Import the one module you need (@silo/core/tenant/tier): a library's index would bundle all of it.",
          })),
          patterns: [
            {
              group: ['@aws-sdk/*', '!@aws-sdk/client-secrets-manager'],
              message: 'The router package talks to Secrets Manager only.',
            },
            {
              group: ['@silo/*', '!@silo/core', '!@silo/auth', '!@silo/http', '!@silo/tenant-router'],
              message:
                'The router package bundles single modules of @silo/core, /auth and /http, nothing else of Silo.',
            },
            { group: ['bullmq'], message: 'The router package has no queue.' },
          ],
        },
      ],
    },
  },
  {
    files: ['libs/queue/**/*.ts'],
    rules: restrict({ group: ['@aws-sdk/*'], message: 'Only libs/aws talks to the AWS SDK.' }),
  },
  {
    files: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      'no-restricted-imports': 'off',
    },
  },
  {
    files: ['scripts/**/*.mjs', 'test/support/*.mjs', '*.js', '*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['scripts/**/*.mjs', 'test/support/*.mjs', '*.js', '*.mjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        console: 'readonly',
        fetch: 'readonly',
        AbortSignal: 'readonly',
        setTimeout: 'readonly',
        URL: 'readonly',
      },
    },
    rules: { 'no-console': 'off', '@typescript-eslint/no-require-imports': 'off' },
  },
  prettier,
);
