import { ROUTER_ENVIRONMENT_SHAPE, routerEnvironmentIssues } from '@silo/tenant-router/environment';
import { z } from 'zod';
import { AWS_REGION_PATTERN, resolveRegions } from './region-settings';

const port = z.coerce.number().int().min(1).max(65535);

function urlWithScheme(schemes: readonly string[]) {
  return z.string().refine(
    (value) => {
      try {
        return schemes.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${schemes.map((s) => `${s}//`).join(' or ')}` },
  );
}

/** A whole number of `unit` in [min, max], refused with a message naming the bounds. */
function wholeNumber(unit: string, min: number, max: number, maxMeaning: string) {
  const range = `must be a whole number of ${unit} from ${min} to ${max} (${maxMeaning})`;
  return z.coerce.number({ error: range }).int(range).min(min, range).max(max, range);
}

const booleanFlag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** Lower-case name usable inside RDS identifiers, secret names and alarm names. */
const resourcePrefix = z
  .string()
  .regex(
    /^[a-z](?:[a-z0-9]|-(?!-)){0,14}[a-z0-9]$/,
    'must be 2-16 of a-z, 0-9 and single hyphens, starting with a letter',
  );

/**
 * Every environment variable Silo reads, with its default. `.env.example` documents the same
 * list; a test keeps the two in step.
 */
export const environmentSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    LOG_FORMAT: z.enum(['json', 'pretty']).default('json'),

    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: port.default(3000),
    METRICS_PORT: port.optional(),
    HTTP_KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(1000).max(3_600_000).default(65_000),
    HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(1000).max(3_600_000).default(66_000),
    HTTP_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).max(1_048_576).default(16_384),
    RATE_LIMIT_MUTATIONS: z.coerce.number().int().min(1).max(100_000).default(60),
    RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
    RATE_LIMIT_READS: z.coerce.number().int().min(1).max(1_000_000).default(1200),
    IDEMPOTENCY_KEY_TTL_HOURS: z.coerce
      .number()
      .int()
      .min(24, 'must be at least 24 (the contract keeps keys for 24 h)')
      .max(720)
      .default(24),

    DATABASE_URL: urlWithScheme(['postgres:', 'postgresql:']),
    /** Fills in DATABASE_URL's password: for a secret injected apart from the URL (an ECS secret). */
    DATABASE_PASSWORD: z.string().min(1).max(1024).optional(),
    DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(500).default(10),
    DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5000),

    REDIS_URL: urlWithScheme(['redis:', 'rediss:']),
    /** Fills in REDIS_URL's password (an AUTH token), as DATABASE_PASSWORD does for DATABASE_URL. */
    REDIS_PASSWORD: z.string().min(1).max(1024).optional(),
    QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1-32 of A-Z, a-z, 0-9, _ and -')
      .default('silo'),

    AWS_REGION: z.string().regex(AWS_REGION_PATTERN, 'must be an AWS region such as eu-west-1'),
    /** Checked with the region settings (resolveRegions): every name, AWS_REGION among them. */
    SILO_REGIONS: z.string().min(1).optional(),
    SILO_REGION_SETTINGS_FILE: z.string().min(1).optional(),
    AWS_ENDPOINT_URL: urlWithScheme(['http:', 'https:']).optional(),
    AWS_EMULATOR: booleanFlag.default(false),
    AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
    AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
    AWS_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(3),
    AWS_RETRY_MODE: z.enum(['standard', 'adaptive']).default('standard'),

    SILO_RESOURCE_PREFIX: resourcePrefix.default('silo'),
    SILO_ENVIRONMENT: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be 1-32 of a-z, 0-9 and -')
      .default('local'),
    SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
    HTTP_ACCESS_LOG: booleanFlag.default(true),

    AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    AUTH_JWKS_URL: urlWithScheme(['https:', 'http:'])
      .refine(
        (value) =>
          !URL.canParse(value) || new URL(value).protocol === 'https:' || isLoopback(new URL(value).hostname),
        'must be an https:// URL (http:// only on a loopback address, for tests)',
      )
      .optional(),
    AUTH_ISSUER: z.string().min(1).optional(),
    AUTH_AUDIENCE: z.string().min(1).optional(),
    TENANT_AUTH_AUDIENCE: z.string().min(1).optional(),
    CONSOLE_OIDC_CLIENT_ID: z
      .string()
      .regex(/^[\x21-\x7e]{1,200}$/, 'must be 1-200 printable characters')
      .optional(),
    CONSOLE_OIDC_SCOPE: z
      .string()
      .regex(/^openid( [\x21-\x7e]+)*$/, "must be space-separated scopes starting with 'openid'")
      .default('openid profile'),
    CONSOLE_OIDC_RESOURCE: z
      .string()
      .regex(/^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s#]+$/, 'must be an absolute URI without a fragment (RFC 8707)')
      .optional(),

    SILO_TIER_PROFILES_FILE: z.string().min(1).optional(),
    LOCAL_INSTANCE_ADMIN_URL: urlWithScheme(['postgres:', 'postgresql:']).optional(),
    LOCAL_INSTANCE_ADMIN_URLS: z.string().min(1).optional(),
    LOCAL_HOST_ADMIN_URLS: z.string().min(1).optional(),
    TENANT_DATABASE_NAME: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be 1-63 of a-z, 0-9 and _, starting with a letter')
      .default('app'),
    TENANT_DB_SSL: z.enum(['verify-full', 'require', 'disable']).default('verify-full'),
    TENANT_DB_CA_FILE: z.string().min(1).optional(),
    TENANT_MIGRATIONS_DIR: z.string().min(1).optional(),
    TENANT_MIGRATIONS_MODULE: z.string().min(1).optional(),
    TENANT_MIGRATION_LOCK_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
    TENANT_MIGRATION_STATEMENT_TIMEOUT_MS: z.coerce
      .number()
      .int()
      .min(1000)
      .max(86_400_000)
      .default(1_800_000),
    KMS_KEY_ID: z.string().min(1).optional(),
    RDS_SUBNET_GROUP: z
      .string()
      .regex(/^[a-zA-Z0-9 ._-]{1,255}$/, 'must be a DB subnet group name')
      .optional(),
    RDS_SECURITY_GROUP_IDS: z
      .string()
      .regex(/^sg-[0-9a-f]{8,17}(,sg-[0-9a-f]{8,17})*$/, 'must be comma-separated security group ids (sg-…)')
      .optional(),
    ALARM_SNS_TOPIC_ARN: z
      .string()
      .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'must be an SNS topic ARN')
      .optional(),
    ALARM_ACTIONS: z.enum(['sns', 'none']).default('sns'),
    WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(5),
    WORKER_LOCK_DURATION_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
    PROVISIONING_DEADLINE_MINUTES: z.coerce.number().int().min(1).max(1440).default(60),
    STEP_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(8),
    RETRY_BASE_DELAY_MS: z.coerce.number().int().min(10).max(600_000).default(2000),
    RETRY_MAX_DELAY_MS: z.coerce.number().int().min(10).max(3_600_000).default(120_000),
    WAIT_INITIAL_DELAY_MS: z.coerce.number().int().min(10).max(600_000).default(15_000),
    WAIT_MAX_DELAY_MS: z.coerce.number().int().min(10).max(3_600_000).default(120_000),
    SECRET_RECOVERY_WINDOW_DAYS: z.coerce.number().int().min(7).max(30).default(7),
    TENANT_EXPORT_BUCKET: z
      .string()
      .regex(
        /^(?!xn--)[a-z0-9](?:[a-z0-9-]|\.(?!\.)){1,61}[a-z0-9]$/,
        'must be an S3 bucket name: 3-63 of a-z, 0-9, . and -',
      )
      .optional(),
    TENANT_EXPORT_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(35),
    QUEUE_METRICS_INTERVAL_SECONDS: z.coerce
      .number()
      .int()
      .refine((n) => n === 0 || (n >= 10 && n <= 3600), 'must be 0 (off) or 10-3600')
      .default(60),
    OUTBOX_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(500),
    RECONCILE_INTERVAL_SECONDS: z.coerce.number().int().min(5).max(86_400).default(300),
    RECONCILE_STUCK_GRACE_SECONDS: z.coerce.number().int().min(1).max(86_400).default(120),
    FINAL_SNAPSHOT_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(35),
    FINAL_SNAPSHOT_EXPIRY: z.enum(['keep', 'delete']).default('keep'),
    CREDENTIAL_ROTATION_DAYS: z.coerce.number().int().min(0).max(3650).default(0),
    CREDENTIAL_ROTATION_DRAIN_SECONDS: z.coerce.number().int().min(0).max(86_400).default(330),
    HOST_EMPTY_GRACE_HOURS: wholeNumber('hours', 0, 8760, 'a year').default(24),
    HOST_SWEEP_INTERVAL_SECONDS: wholeNumber('seconds', 60, 86_400, 'a day').default(900),
    MOVE_SOURCE_RETENTION_HOURS: wholeNumber('hours', 0, 8760, 'a year').default(24),
    MOVE_FREEZE_TIMEOUT_MS: wholeNumber('milliseconds', 100, 60_000, 'a minute').default(5000),
    MOVE_CATCH_UP_TIMEOUT_MS: wholeNumber('milliseconds', 1000, 600_000, 'ten minutes').default(30_000),
    RESTORE_COPY_TTL_HOURS: wholeNumber('hours', 0, 720, 'thirty days').default(72),

    EXAMPLE_APP_PORT: port.default(3001),
    // The data plane's own variables, read by @silo/tenant-router (an example app's too).
    ...ROUTER_ENVIRONMENT_SHAPE,
  })
  .superRefine((env, ctx) => {
    if (env.RETRY_MAX_DELAY_MS < env.RETRY_BASE_DELAY_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['RETRY_MAX_DELAY_MS'],
        message: 'must not be below RETRY_BASE_DELAY_MS',
      });
    }
    if (env.WAIT_MAX_DELAY_MS < env.WAIT_INITIAL_DELAY_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['WAIT_MAX_DELAY_MS'],
        message: 'must not be below WAIT_INITIAL_DELAY_MS',
      });
    }
    if (env.AUTH_JWT_SECRET && env.AUTH_JWKS_URL) {
      ctx.addIssue({
        code: 'custom',
        path: ['AUTH_JWKS_URL'],
        message: 'set either AUTH_JWT_SECRET or AUTH_JWKS_URL, not both',
      });
    }
    if (env.AUTH_JWT_SECRET && EXAMPLE_JWT_SECRETS.includes(env.AUTH_JWT_SECRET)) {
      ctx.addIssue({
        code: 'custom',
        path: ['AUTH_JWT_SECRET'],
        message:
          'is the published example secret, which anyone can sign tokens with: generate one (openssl rand -base64 32)',
      });
    }
    // A process that verifies tokens (the API, a tenant app) also refuses to start without a JWKS
    // then (jwtVerifierFromSettings); the worker and the migration verify none.
    if (env.NODE_ENV === 'production' && env.AUTH_JWT_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['AUTH_JWT_SECRET'],
        message:
          'is for development only and refused with NODE_ENV=production: verify tokens through AUTH_JWKS_URL',
      });
    }
    if (env.AUTH_JWKS_URL) {
      for (const variable of ['AUTH_ISSUER', 'AUTH_AUDIENCE'] as const) {
        if (!env[variable]) {
          ctx.addIssue({
            code: 'custom',
            path: [variable],
            message: `is required with AUTH_JWKS_URL: tokens are checked for the ${variable === 'AUTH_ISSUER' ? 'issuer (iss)' : "control plane's audience (aud)"}`,
          });
        }
      }
    }
    if (env.TENANT_AUTH_AUDIENCE && env.TENANT_AUTH_AUDIENCE === env.AUTH_AUDIENCE) {
      ctx.addIssue({
        code: 'custom',
        path: ['TENANT_AUTH_AUDIENCE'],
        message:
          'must differ from AUTH_AUDIENCE: the data plane and the control plane each accept only tokens for their own audience',
      });
    }
    if (env.HTTP_HEADERS_TIMEOUT_MS <= env.HTTP_KEEP_ALIVE_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['HTTP_HEADERS_TIMEOUT_MS'],
        message: 'must be above HTTP_KEEP_ALIVE_TIMEOUT_MS',
      });
    }
    if (env.METRICS_PORT !== undefined && env.METRICS_PORT === env.PORT) {
      ctx.addIssue({
        code: 'custom',
        path: ['METRICS_PORT'],
        message: 'must differ from PORT: metrics are served on their own, internal port',
      });
    }
    if (env.AWS_EMULATOR && !env.AWS_ENDPOINT_URL) {
      ctx.addIssue({
        code: 'custom',
        path: ['AWS_ENDPOINT_URL'],
        message: "is required with AWS_EMULATOR=true: the emulator's endpoint",
      });
    }
    if (env.CONSOLE_OIDC_CLIENT_ID && !/^https?:\/\/[^/]/.test(env.AUTH_ISSUER ?? '')) {
      ctx.addIssue({
        code: 'custom',
        path: ['AUTH_ISSUER'],
        message:
          "must be the identity provider's issuer URL (its /.well-known/openid-configuration) when CONSOLE_OIDC_CLIENT_ID is set",
      });
    }
    for (const { variable, message } of routerEnvironmentIssues(env)) {
      ctx.addIssue({ code: 'custom', path: [variable], message });
    }
    if (env.ALARM_ACTIONS === 'none' && env.ALARM_SNS_TOPIC_ARN) {
      ctx.addIssue({
        code: 'custom',
        path: ['ALARM_ACTIONS'],
        message: 'is none, but ALARM_SNS_TOPIC_ARN is set: unset one of them',
      });
    }
    if (env.ALARM_ACTIONS === 'sns' && !env.ALARM_SNS_TOPIC_ARN && !env.AWS_EMULATOR) {
      ctx.addIssue({
        code: 'custom',
        path: ['ALARM_SNS_TOPIC_ARN'],
        message:
          'is required against real AWS (AWS_EMULATOR unset): without it tenant alarms notify nobody; set ALARM_ACTIONS=none to create them without actions on purpose',
      });
    }
    if (env.TENANT_MIGRATIONS_DIR && env.TENANT_MIGRATIONS_MODULE) {
      ctx.addIssue({
        code: 'custom',
        path: ['TENANT_MIGRATIONS_MODULE'],
        message:
          'set either TENANT_MIGRATIONS_DIR (SQL files) or TENANT_MIGRATIONS_MODULE (TypeORM classes), not both',
      });
    }
    for (const [variable, url] of [
      ['DATABASE_PASSWORD', env.DATABASE_URL],
      ['REDIS_PASSWORD', env.REDIS_URL],
    ] as const) {
      if (env[variable] && passwordIn(url)) {
        ctx.addIssue({
          code: 'custom',
          path: [variable],
          message: `is set, but ${variable.replace('_PASSWORD', '_URL')} already carries a password: set it in one place`,
        });
      }
    }
    for (const issue of resolveRegions(env).issues) {
      ctx.addIssue({ code: 'custom', path: [issue.variable], message: issue.message });
    }
    if (Boolean(env.AWS_ACCESS_KEY_ID) !== Boolean(env.AWS_SECRET_ACCESS_KEY)) {
      const missing = env.AWS_ACCESS_KEY_ID ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID';
      ctx.addIssue({
        code: 'custom',
        path: [missing],
        message:
          'must be set together with its pair (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or both left unset',
      });
    }
  });

/** Secrets published in Silo's own files (.env.example, docker-compose.yml): never accepted. */
export const EXAMPLE_JWT_SECRETS: readonly string[] = ['local-development-only-secret-change-me'];

/** 127.0.0.0/8, ::1 and localhost. */
function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

function passwordIn(url: string): string {
  try {
    return new URL(url).password;
  } catch {
    return ''; // the URL's own rule reports it
  }
}

export type Environment = z.infer<typeof environmentSchema>;
export type EnvironmentVariable = keyof z.input<typeof environmentSchema>;
