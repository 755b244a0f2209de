import { readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  ROUTER_ENVIRONMENT_SHAPE,
  routerEnvironmentIssues,
  routerSettingsFromEnvironment,
  type RouterSettings,
} from './router-environment';
import { dataPlaneSecretName } from '@silo/core/provisioning/control-plane-names';
import type { DatabaseTls, TenantDataPlaneOptions } from './tenant-data-plane';

const tlsMode = z.enum(['verify-full', 'require', 'disable']);

/** The variables a tenant application configures the data plane with, and their defaults. */
const dataPlaneEnvironment = z
  .object({
    NODE_ENV: z.string().optional(),
    SILO_RESOURCE_PREFIX: z
      .string()
      .regex(
        /^[a-z](?:[a-z0-9]|-(?!-)){0,14}[a-z0-9]$/,
        'must be 2-16 of a-z, 0-9 and single hyphens, starting with a letter',
      )
      .default('silo'),
    AWS_REGION: z.string({ error: 'is required: the region of the tenants’ secrets' }).min(1),
    AWS_ENDPOINT_URL: z.url().optional(),
    AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
    AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
    TENANT_DIRECTORY_SECRET: z.string().min(1).optional(),
    TENANT_DIRECTORY_SSL: tlsMode.default('verify-full'),
    TENANT_DIRECTORY_CA_FILE: z.string().min(1).optional(),
    TENANT_DB_SSL: tlsMode.default('verify-full'),
    TENANT_DB_CA_FILE: z.string().min(1).optional(),
    TENANT_AUTH_AUDIENCE: z.string({ error: 'is required: the data plane’s own token audience' }).min(1),
    AUTH_AUDIENCE: z.string().min(1).optional(),
    AUTH_ISSUER: z.string().min(1).optional(),
    AUTH_JWKS_URL: z.url().optional(),
    AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    ROUTER_ROUTE_SIGNALS_REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL')
      .optional(),
    ...ROUTER_ENVIRONMENT_SHAPE,
  })
  .superRefine((env, ctx) => {
    const issue = (variable: string, message: string) =>
      ctx.addIssue({ code: 'custom', path: [variable], message });
    for (const { variable, message } of routerEnvironmentIssues(env)) issue(variable, message);
    if (!env.AUTH_JWKS_URL && !env.AUTH_JWT_SECRET)
      issue('AUTH_JWKS_URL', 'is required (or AUTH_JWT_SECRET, in development) to verify tenant tokens');
    if (env.AUTH_JWKS_URL && env.AUTH_JWT_SECRET)
      issue('AUTH_JWT_SECRET', 'set either AUTH_JWT_SECRET or AUTH_JWKS_URL, not both');
    if (env.NODE_ENV === 'production' && env.AUTH_JWT_SECRET)
      issue(
        'AUTH_JWT_SECRET',
        'is for development only and refused with NODE_ENV=production: use AUTH_JWKS_URL',
      );
    if (env.AUTH_JWKS_URL && !env.AUTH_ISSUER)
      issue('AUTH_ISSUER', 'is required with AUTH_JWKS_URL: tokens are checked for their issuer');
    if (env.AUTH_AUDIENCE && env.AUTH_AUDIENCE === env.TENANT_AUTH_AUDIENCE)
      issue('TENANT_AUTH_AUDIENCE', "must differ from AUTH_AUDIENCE (the control plane's audience)");
    if (Boolean(env.AWS_ACCESS_KEY_ID) !== Boolean(env.AWS_SECRET_ACCESS_KEY))
      issue('AWS_SECRET_ACCESS_KEY', 'set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither');
  });

/** The data plane's configuration is unusable; `problems` name every bad variable. Never carries a value. */
export class DataPlaneConfigError extends Error {
  override readonly name = 'DataPlaneConfigError';
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(
      `the data plane's configuration is invalid:\n${problems.map((p) => `  ${p.variable} ${p.message}`).join('\n')}`,
    );
  }
}

/** The data plane's options from environment variables, plus what the Nest module also reads. */
export interface DataPlaneEnvironmentOptions extends Omit<TenantDataPlaneOptions, 'entities' | 'log'> {
  /** ROUTER_REQUESTS_PER_SECOND_*: a tier left out has no request rate. */
  requestsPerSecondByTier: RouterSettings['requestsPerSecondByTier'];
}

/**
 * Reads the data plane's options from `env` (default `process.env`): where the directory and
 * the secrets are (SILO_RESOURCE_PREFIX, AWS_*, TENANT_DIRECTORY_*), how tokens are verified
 * (TENANT_AUTH_AUDIENCE, AUTH_*), TLS (TENANT_DB_SSL), the ROUTER_* limits and, with
 * ROUTER_ROUTE_SIGNALS_REDIS_URL, the Redis the control plane publishes its route signals on
 * (channel `<SILO_RESOURCE_PREFIX>:tenant-routes`). Throws
 * {@link DataPlaneConfigError} naming every bad variable at once.
 */
export function dataPlaneOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): DataPlaneEnvironmentOptions {
  // An empty value counts as unset, as in a .env file with `NAME=`.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = dataPlaneEnvironment.safeParse(present);
  if (!parsed.success) {
    throw new DataPlaneConfigError(
      parsed.error.issues.map((i) => ({
        variable: String(i.path[0] ?? '(environment)'),
        message: i.message,
      })),
    );
  }
  const e = parsed.data;
  const limits = routerSettingsFromEnvironment(e);
  return {
    resourcePrefix: e.SILO_RESOURCE_PREFIX,
    aws: {
      region: e.AWS_REGION,
      endpoint: e.AWS_ENDPOINT_URL,
      credentials:
        e.AWS_ACCESS_KEY_ID && e.AWS_SECRET_ACCESS_KEY
          ? { accessKeyId: e.AWS_ACCESS_KEY_ID, secretAccessKey: e.AWS_SECRET_ACCESS_KEY }
          : undefined,
    },
    directory: {
      secretId: e.TENANT_DIRECTORY_SECRET ?? dataPlaneSecretName(e.SILO_RESOURCE_PREFIX),
      tls: tlsOf(e.TENANT_DIRECTORY_SSL, e.TENANT_DIRECTORY_CA_FILE, 'TENANT_DIRECTORY_CA_FILE'),
    },
    tenantDatabaseTls: tlsOf(e.TENANT_DB_SSL, e.TENANT_DB_CA_FILE, 'TENANT_DB_CA_FILE'),
    auth: {
      audience: e.TENANT_AUTH_AUDIENCE,
      controlPlaneAudience: e.AUTH_AUDIENCE,
      issuer: e.AUTH_ISSUER,
      jwksUrl: e.AUTH_JWKS_URL,
      hs256Secret: e.AUTH_JWT_SECRET,
      production: e.NODE_ENV === 'production',
    },
    limits,
    requestsPerSecondByTier: limits.requestsPerSecondByTier,
    routeSignals: e.ROUTER_ROUTE_SIGNALS_REDIS_URL
      ? { redis: e.ROUTER_ROUTE_SIGNALS_REDIS_URL, resourcePrefix: e.SILO_RESOURCE_PREFIX }
      : undefined,
  };
}

function tlsOf(mode: DatabaseTls['mode'], caFile: string | undefined, variable: string): DatabaseTls {
  if (!caFile || mode === 'disable') return { mode };
  try {
    return { mode, ca: readFileSync(caFile, 'utf8') };
  } catch (error) {
    throw new DataPlaneConfigError([
      { variable, message: `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})` },
    ]);
  }
}
