import { routerSettingsFromEnvironment, type RouterSettings } from '@silo/tenant-router/environment';
import type { Environment } from './config.schema';
import { resolveRegions, type RegionSettings, type Regions } from './region-settings';

export type LogLevel = Environment['LOG_LEVEL'];

/**
 * Silo's validated configuration. Built once at start-up by {@link loadConfig}; nothing else reads
 * `process.env`. Inject it by class.
 */
export class SiloConfig {
  readonly nodeEnv: Environment['NODE_ENV'];
  readonly log: { level: LogLevel; format: 'json' | 'pretty'; httpAccessLog: boolean };
  readonly http: {
    host: string;
    port: number;
    /** The control plane's /metrics on its own port (internal); unset: on `port`, for sre and admin tokens only. */
    metricsPort?: number;
    /** Idle keep-alive of HTTP connections; above a load balancer's idle timeout (ALB: 60 s). */
    keepAliveTimeoutMs: number;
    /** Above keepAliveTimeoutMs, as Node requires. */
    headersTimeoutMs: number;
    bodyLimitBytes: number;
    /** Mutating requests allowed per caller (JWT sub) per window, and reads per caller per window. */
    rateLimit: { points: number; readPoints: number; windowSeconds: number };
    idempotencyKeyTtlMs: number;
  };
  readonly database: { url: string; poolMax: number; connectTimeoutMs: number };
  readonly redis: { url: string };
  readonly queue: { prefix: string };
  readonly aws: {
    region: string;
    /** Emulator or VPC endpoint; undefined means the SDK's own endpoint resolution. */
    endpoint?: string;
    /** The endpoint is an emulator (AWS_EMULATOR), not AWS: said explicitly, never guessed from the endpoint. */
    emulator: boolean;
    /** Static credentials; undefined means the SDK's default provider chain. */
    credentials?: { accessKeyId: string; secretAccessKey: string };
    maxAttempts: number;
    retryMode: 'standard' | 'adaptive';
  };
  /**
   * The regions tenants live in (SILO_REGIONS, AWS_REGION the default) with each one's KMS key,
   * network, alarm topic, export bucket and local backend. `tenants.kmsKeyId` and its neighbours
   * are the default region's.
   */
  readonly regions: Regions;
  readonly resources: { prefix: string; environment: string };
  readonly shutdownGraceMs: number;
  /**
   * Bearer JWT verification: an HS256 secret (development) or a JWKS URL (production). `audience`
   * is the control plane's, `tenantAudience` the data plane's (tenant apps): each plane accepts only
   * its own.
   */
  readonly auth: {
    jwtSecret?: string;
    jwksUrl?: string;
    issuer?: string;
    audience?: string;
    tenantAudience?: string;
    /** NODE_ENV=production: tokens verify through a JWKS only. */
    production: boolean;
  };
  /** The ops console's sign-in: OpenID Connect (authorization code + PKCE) when a client is set. */
  readonly console: {
    oidc?: { authority: string; clientId: string; scope: string; resource?: string };
  };
  readonly tenants: {
    tierProfilesFile?: string;
    /** Local instance backend: tenant instances materialised on this PostgreSQL server. */
    localInstanceAdminUrl?: string;
    databaseName: string;
    ssl: 'verify-full' | 'require' | 'disable';
    caFile?: string;
    kmsKeyId?: string;
    subnetGroup?: string;
    securityGroupIds: string[];
    alarmTopicArn?: string;
    /** `none`: alarms are created without actions, on purpose. */
    alarmActions: 'sns' | 'none';
    secretRecoveryWindowDays: number;
    /**
     * Where a deleted schema or pool tenant's data goes before it is dropped: an S3 bucket
     * (TENANT_EXPORT_BUCKET; with the emulator `<prefix>-exports` unless set, made on first use)
     * and how many days each export is kept.
     */
    exports: { bucket?: string; retentionDays: number };
    /** Where the tenant schema's migrations are: SQL files or a TypeORM module; neither = the built-in set. */
    migrations: { dir?: string; module?: string; lockTimeoutMs: number; statementTimeoutMs: number };
  };
  readonly worker: {
    concurrency: number;
    lockDurationMs: number;
    deadlineMs: number;
    stepMaxAttempts: number;
    retry: { baseDelayMs: number; maxDelayMs: number };
    wait: { initialDelayMs: number; maxDelayMs: number };
    outboxPollMs: number;
    /** How often each worker publishes the queue's depth to CloudWatch (0: never). */
    queueMetricsIntervalMs: number;
    /**
     * The reconciler: how often a pass runs, how long a tenant may go without a live job before
     * it is re-driven, how long a deleted tenant's final snapshot is expected to be kept, and
     * after how many days it rotates a tenant's credentials (0: never on its own).
     */
    reconcile: {
      intervalMs: number;
      stuckGraceMs: number;
      finalSnapshotRetentionDays: number;
      /**
       * What a pass does with a deleted tenant's or host's final snapshot past its retention:
       * `keep` it as an orphan for an operator, or `delete` it (manual snapshots count against
       * RDS's quota, 100 per region by default).
       */
      finalSnapshotExpiry: 'keep' | 'delete';
      credentialRotationDays: number;
    };
    /** How long a rotation keeps the previous app login working after the secret moved. */
    rotation: { drainMs: number };
    /**
     * Shared hosts: how long a host stays empty before it is deleted, and how often the worker
     * sweeps the hosts (records which are empty and starts deleting those past the grace period).
     */
    hosts: { emptyGraceMs: number; sweepIntervalMs: number };
    /**
     * Moves: how long a moved tenant's source is kept after the switch, how long a cut-over
     * waits for the tenant's open writes on the source, and for the target to catch up.
     */
    moves: { sourceRetentionMs: number; freezeTimeoutMs: number; catchUpTimeoutMs: number };
    /** Restores: how long a restore copy is kept before it is removed. */
    restores: { copyTtlMs: number };
  };
  /** The data-plane router's limits (@silo/tenant-router's ROUTER_* variables). */
  readonly router: RouterSettings;
  /** apps/example-tenant-app listens on `http.host` and this port. */
  readonly exampleApp: { port: number };

  constructor(env: Environment) {
    this.nodeEnv = env.NODE_ENV;
    this.log = { level: env.LOG_LEVEL, format: env.LOG_FORMAT, httpAccessLog: env.HTTP_ACCESS_LOG };
    this.http = {
      host: env.HOST,
      port: env.PORT,
      metricsPort: env.METRICS_PORT,
      keepAliveTimeoutMs: env.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS,
      bodyLimitBytes: env.HTTP_BODY_LIMIT_BYTES,
      rateLimit: {
        points: env.RATE_LIMIT_MUTATIONS,
        readPoints: env.RATE_LIMIT_READS,
        windowSeconds: env.RATE_LIMIT_WINDOW_SECONDS,
      },
      idempotencyKeyTtlMs: env.IDEMPOTENCY_KEY_TTL_HOURS * 3_600_000,
    };
    this.database = {
      url: withPassword(env.DATABASE_URL, env.DATABASE_PASSWORD),
      poolMax: env.DATABASE_POOL_MAX,
      connectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
    };
    this.redis = { url: withPassword(env.REDIS_URL, env.REDIS_PASSWORD) };
    this.queue = { prefix: env.QUEUE_PREFIX };
    this.aws = {
      region: env.AWS_REGION,
      endpoint: env.AWS_ENDPOINT_URL,
      emulator: env.AWS_EMULATOR,
      credentials:
        env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
          ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY }
          : undefined,
      maxAttempts: env.AWS_MAX_ATTEMPTS,
      retryMode: env.AWS_RETRY_MODE,
    };
    const { regions, issues } = resolveRegions(env);
    // The schema reports these issues first; a SiloConfig is only made from a valid environment.
    if (!regions) throw new Error(`invalid region settings: ${issues.map((i) => i.message).join('; ')}`);
    this.regions = regions;
    const home = regions.byName.get(regions.default)!;
    this.resources = { prefix: env.SILO_RESOURCE_PREFIX, environment: env.SILO_ENVIRONMENT };
    this.shutdownGraceMs = env.SHUTDOWN_GRACE_MS;
    this.auth = {
      jwtSecret: env.AUTH_JWT_SECRET,
      jwksUrl: env.AUTH_JWKS_URL,
      issuer: env.AUTH_ISSUER,
      audience: env.AUTH_AUDIENCE,
      tenantAudience: env.TENANT_AUTH_AUDIENCE,
      production: env.NODE_ENV === 'production',
    };
    this.console = {
      oidc: env.CONSOLE_OIDC_CLIENT_ID
        ? {
            authority: env.AUTH_ISSUER!,
            clientId: env.CONSOLE_OIDC_CLIENT_ID,
            scope: env.CONSOLE_OIDC_SCOPE,
            resource: env.CONSOLE_OIDC_RESOURCE,
          }
        : undefined,
    };
    this.tenants = {
      tierProfilesFile: env.SILO_TIER_PROFILES_FILE,
      localInstanceAdminUrl: env.LOCAL_INSTANCE_ADMIN_URL,
      databaseName: env.TENANT_DATABASE_NAME,
      ssl: env.TENANT_DB_SSL,
      caFile: env.TENANT_DB_CA_FILE,
      kmsKeyId: home.kmsKeyId,
      subnetGroup: home.subnetGroup,
      securityGroupIds: [...home.securityGroupIds],
      alarmTopicArn: home.alarmTopicArn,
      alarmActions: env.ALARM_ACTIONS,
      secretRecoveryWindowDays: env.SECRET_RECOVERY_WINDOW_DAYS,
      exports: {
        bucket: home.exportBucket,
        retentionDays: env.TENANT_EXPORT_RETENTION_DAYS,
      },
      migrations: {
        dir: env.TENANT_MIGRATIONS_DIR,
        module: env.TENANT_MIGRATIONS_MODULE,
        lockTimeoutMs: env.TENANT_MIGRATION_LOCK_TIMEOUT_MS,
        statementTimeoutMs: env.TENANT_MIGRATION_STATEMENT_TIMEOUT_MS,
      },
    };
    this.worker = {
      concurrency: env.WORKER_CONCURRENCY,
      lockDurationMs: env.WORKER_LOCK_DURATION_MS,
      deadlineMs: env.PROVISIONING_DEADLINE_MINUTES * 60_000,
      stepMaxAttempts: env.STEP_MAX_ATTEMPTS,
      retry: { baseDelayMs: env.RETRY_BASE_DELAY_MS, maxDelayMs: env.RETRY_MAX_DELAY_MS },
      wait: { initialDelayMs: env.WAIT_INITIAL_DELAY_MS, maxDelayMs: env.WAIT_MAX_DELAY_MS },
      outboxPollMs: env.OUTBOX_POLL_MS,
      queueMetricsIntervalMs: env.QUEUE_METRICS_INTERVAL_SECONDS * 1000,
      reconcile: {
        intervalMs: env.RECONCILE_INTERVAL_SECONDS * 1000,
        stuckGraceMs: env.RECONCILE_STUCK_GRACE_SECONDS * 1000,
        finalSnapshotRetentionDays: env.FINAL_SNAPSHOT_RETENTION_DAYS,
        finalSnapshotExpiry: env.FINAL_SNAPSHOT_EXPIRY,
        credentialRotationDays: env.CREDENTIAL_ROTATION_DAYS,
      },
      rotation: { drainMs: env.CREDENTIAL_ROTATION_DRAIN_SECONDS * 1000 },
      hosts: {
        emptyGraceMs: env.HOST_EMPTY_GRACE_HOURS * 3_600_000,
        sweepIntervalMs: env.HOST_SWEEP_INTERVAL_SECONDS * 1000,
      },
      moves: {
        sourceRetentionMs: env.MOVE_SOURCE_RETENTION_HOURS * 3_600_000,
        freezeTimeoutMs: env.MOVE_FREEZE_TIMEOUT_MS,
        catchUpTimeoutMs: env.MOVE_CATCH_UP_TIMEOUT_MS,
      },
      restores: { copyTtlMs: env.RESTORE_COPY_TTL_HOURS * 3_600_000 },
    };
    this.router = routerSettingsFromEnvironment(env);
    this.exampleApp = { port: env.EXAMPLE_APP_PORT };
  }

  /** One configured region's settings; an unknown region is a programming error here (the API refuses it first). */
  region(name: string): RegionSettings {
    const settings = this.regions.byName.get(name);
    if (!settings) {
      throw new Error(`region ${name} is not configured (SILO_REGIONS: ${this.regions.names.join(', ')})`);
    }
    return settings;
  }
}

/** `url` with its password set to `password` (percent-encoded); `url` as given when there is none. */
function withPassword(url: string, password: string | undefined): string {
  if (!password) return url;
  const parsed = new URL(url);
  parsed.password = encodeURIComponent(password);
  return parsed.toString();
}
