import { AuthError, AuthErrorCode, type Principal } from '@silo/auth/principal';
import { bearerToken, JwtVerifier } from '@silo/auth/jwt-verifier';
import type { EntityManager } from 'typeorm';
import { ControlPlaneTenantDirectory } from '../adapters/control-plane-tenant-directory';
import { DirectoryDatabase } from '../adapters/directory-database';
import { SecretsManagerCredentialSource } from '../adapters/secrets-manager-credential-source';
import {
  SecretsManagerClients,
  SecretsManagerSecretReader,
  type SecretReader,
} from '../adapters/secrets-manager-secret-reader';
import { tenantAccessAnswer, type TenantAccessAnswer } from '../tenant-access.problem';
import { TenantRouter } from '../tenant-router';
import { TenantAccessError } from '../tenant-router.errors';
import type {
  TenantCredentialSource,
  TenantDirectory,
  TenantLease,
  TenantRouteSignalOptions,
  TenantRouterLog,
  TenantRouterOptions,
} from '../tenant-router.types';
import { DEFAULT_ROUTER_SETTINGS, type RouterSettings } from './router-environment';
import { problem } from '@silo/http/problem-details';
import { dataPlaneSecretName } from '@silo/core/provisioning/control-plane-names';

/** TLS to a database: `verify-full` checks the certificate against `ca` (or Node's roots). */
export interface DatabaseTls {
  mode: 'verify-full' | 'require' | 'disable';
  /** PEM of the CA to trust (RDS: the region's bundle). */
  ca?: string;
}

/** How the data plane checks tenants' bearer tokens (the issuer's, never Silo's operators'). */
export interface TenantTokenOptions {
  /** The data plane's audience: a token's `aud` must include it (TENANT_AUTH_AUDIENCE). */
  audience: string;
  /** The issuer's JWKS (production). */
  jwksUrl?: string;
  /** An HS256 secret (development only; refused with `production`). */
  hs256Secret?: string;
  /** Checked when set (AUTH_ISSUER). */
  issuer?: string;
  /** The control plane's audience: a token for it is answered 403 rather than 401. */
  controlPlaneAudience?: string;
  /** Refuses an HS256 secret. */
  production?: boolean;
}

/** Everything a tenant application gives the data plane. Only `entities` and `auth` have no default. */
export interface TenantDataPlaneOptions {
  /** Entity classes (never globs) of the tenant schema the application reads and writes. */
  entities: TenantRouterOptions['entities'];
  /** How tenant tokens are verified. */
  auth: TenantTokenOptions;
  /** SILO_RESOURCE_PREFIX of the Silo that provisions the tenants. Default `silo`. */
  resourcePrefix?: string;
  /** Where Secrets Manager is. Default: the AWS SDK's own (AWS_REGION, the default credential chain). */
  aws?: {
    region?: string;
    /** An emulator, or a VPC endpoint. */
    endpoint?: string;
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
    maxAttempts?: number;
  };
  /**
   * Where tenants are looked up. Default: the control plane's directory view, logged in with the
   * data-plane secret `<prefix>/control-plane/data-plane`. Or a {@link TenantDirectory} of your own.
   */
  directory?: { secretId?: string; tls?: DatabaseTls; poolMax?: number } | TenantDirectory;
  /** Where a tenant's credentials come from. Default: its Secrets Manager app secret. */
  credentials?: TenantCredentialSource;
  /** TLS to the tenants' databases. Default `verify-full` with Node's roots. */
  tenantDatabaseTls?: DatabaseTls;
  /** Bounds, TTLs and per-tier limits. Default {@link DEFAULT_ROUTER_SETTINGS}. */
  limits?: Partial<RouterSettings>;
  /**
   * The control plane's route signals, heard so that a moving tenant's pause and switch reach
   * this process within a second (else within `statusTtlMs`): a Redis client of the app's (the
   * router subscribes on a duplicate() of it) or a redis:// URL (ROUTER_ROUTE_SIGNALS_REDIS_URL),
   * and the publishing Silo's prefix (default `resourcePrefix`). Unset: no subscription.
   */
  routeSignals?: { redis: TenantRouteSignalOptions['redis']; resourcePrefix?: string };
  /** How long `close()` waits for work in flight, in ms. Default 5000. */
  closeTimeoutMs?: number;
  /** Bounds of the restore copies' DataSources (`readRestoreCopy`). Default: 2 open, 2 connections each. */
  restoreCopies?: TenantRouterOptions['restoreCopies'];
  /** Where the router logs (a pino logger fits); never given a secret. Default: silent. */
  log?: TenantRouterLog;
}

/** Who a verified tenant token says is calling, and for which tenant. */
export interface TenantIdentity {
  tenantId: string;
  principal: Principal;
}

/**
 * The data plane without a framework: verifies a request's bearer token, leases the tenant's
 * database to one unit of work, and says how to answer a refusal over HTTP. For Express,
 * Fastify, a worker or a script; the Nest module (`@silo/tenant-router/nest`) is built on it.
 */
export class TenantDataPlane {
  readonly router: TenantRouter;
  readonly verifier: JwtVerifier;
  private readonly directoryDatabase: DirectoryDatabase | undefined;
  private readonly secretsClients: SecretsManagerClients | undefined;

  constructor(options: TenantDataPlaneOptions) {
    const prefix = options.resourcePrefix ?? 'silo';
    this.verifier = tenantTokenVerifier(options.auth);
    const needsSecrets = !options.credentials || !isDirectory(options.directory);
    if (needsSecrets) this.secretsClients = new SecretsManagerClients({ ...options.aws });
    const secrets: SecretReader | undefined = this.secretsClients
      ? new SecretsManagerSecretReader(this.secretsClients)
      : undefined;
    const limits = { ...DEFAULT_ROUTER_SETTINGS, ...options.limits };
    let directory: TenantDirectory;
    if (isDirectory(options.directory)) {
      directory = options.directory;
    } else {
      this.directoryDatabase = new DirectoryDatabase(secrets!, {
        secretId: options.directory?.secretId ?? dataPlaneSecretName(prefix),
        ssl: pgTls(options.directory?.tls),
        poolMax: options.directory?.poolMax ?? 2,
        connectTimeoutMs: limits.connectTimeoutMs,
      });
      directory = new ControlPlaneTenantDirectory(this.directoryDatabase, prefix);
    }
    const credentials = options.credentials ?? new SecretsManagerCredentialSource(secrets!, prefix);
    this.router = new TenantRouter(
      directory,
      credentials,
      routerOptions(limits, {
        entities: options.entities,
        closeTimeoutMs: options.closeTimeoutMs ?? 5000,
        restoreCopies: options.restoreCopies,
        ssl: pgTls(options.tenantDatabaseTls),
        routeSignals: options.routeSignals && {
          redis: options.routeSignals.redis,
          resourcePrefix: options.routeSignals.resourcePrefix ?? prefix,
        },
      }),
      options.log,
    );
  }

  /**
   * The tenant of a request's `Authorization` header: a bearer JWT that verifies for the data
   * plane's audience and carries `tenant_id`. Throws {@link AuthError} otherwise (see
   * {@link TenantDataPlane.answer}).
   */
  async authenticate(authorization: string | undefined): Promise<TenantIdentity> {
    const principal = await this.verifier.verify(bearerToken(authorization));
    if (!principal.tenantId) {
      throw new AuthError(
        AuthErrorCode.INVALID_TOKEN,
        'the token carries no tenant_id claim: a tenant token is required',
      );
    }
    return { tenantId: principal.tenantId, principal };
  }

  /** One transaction on the tenant's database, in every placement (TenantRouter.transaction). */
  transaction<T>(tenantId: string, work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.router.transaction(tenantId, work);
  }

  /** A lease for work that spans several transactions; release it when done. */
  acquire(tenantId: string): Promise<TenantLease> {
    return this.router.acquire(tenantId);
  }

  /**
   * One READ ONLY transaction on the tenant's restore copy of restore change `run`
   * (TenantRouter.readRestoreCopy): the only way to a copy.
   */
  readRestoreCopy<T>(
    tenantId: string,
    run: number,
    work: (manager: EntityManager) => Promise<T>,
  ): Promise<T> {
    return this.router.readRestoreCopy(tenantId, run, work);
  }

  /**
   * The HTTP answer to a refusal of {@link authenticate} or of a lease (status, problem+json body,
   * headers such as Retry-After and WWW-Authenticate), or null for any other error.
   */
  answer(error: unknown): TenantAccessAnswer | null {
    if (error instanceof TenantAccessError) return tenantAccessAnswer(error);
    if (error instanceof AuthError) {
      return {
        status: error.status,
        body: problem(error.status, error.message),
        headers: { 'WWW-Authenticate': `Bearer error="${error.bearerError}"` },
      };
    }
    return null;
  }

  /** Closes every tenant DataSource (waiting for work in flight) and the directory's pool. */
  async close(): Promise<void> {
    await this.router.close();
    await this.directoryDatabase?.close();
    this.secretsClients?.destroy();
  }
}

/** Verifies data-plane tokens only; refuses, naming the option, to be built without a key or audience. */
export function tenantTokenVerifier(auth: TenantTokenOptions): JwtVerifier {
  if (!auth.audience) {
    throw new Error(
      "auth.audience is required: the data plane accepts only tokens for its own audience (TENANT_AUTH_AUDIENCE), never the control plane's",
    );
  }
  if (!auth.hs256Secret && !auth.jwksUrl)
    throw new Error('auth needs a jwksUrl (production) or an hs256Secret (development) to verify tokens');
  if (auth.production && auth.hs256Secret)
    throw new Error(
      'auth.hs256Secret is for development only: in production verify tokens through auth.jwksUrl',
    );
  return new JwtVerifier({
    hs256Secret: auth.hs256Secret,
    jwksUrl: auth.jwksUrl,
    issuer: auth.issuer,
    audience: auth.audience,
    otherPlaneAudience: auth.controlPlaneAudience,
    plane: 'data-plane',
  });
}

/** The router's options: `settings` (the ROUTER_* limits) with the entities, TLS and close deadline. */
export function routerOptions(
  settings: RouterSettings,
  rest: Pick<TenantRouterOptions, 'entities' | 'ssl' | 'closeTimeoutMs' | 'routeSignals' | 'restoreCopies'>,
): TenantRouterOptions {
  return {
    ...rest,
    maxDataSources: settings.maxDataSources,
    connectionBudget: settings.connectionBudget,
    poolSizeByTier: { ...settings.poolSizeByTier },
    poolSizePerHost: settings.poolSizePerHost,
    maxLeasesPerTenantByTier: { ...settings.maxLeasesPerTenantByTier },
    maxLeaseWaitersPerTenant: settings.maxLeaseWaitersPerTenant,
    leaseWaitMs: settings.leaseWaitMs,
    idleTimeoutMs: settings.idleTimeoutMs,
    connectionTimeoutMs: settings.connectTimeoutMs,
    statusTtlMs: settings.statusTtlMs,
    secretTtlMs: settings.secretTtlMs,
    failureBackoffMs: settings.failureBackoffMs,
    movePauseWaitMs: settings.movePauseWaitMs,
  };
}

/** node-postgres' `ssl` for a TLS mode. */
export function pgTls(tls: DatabaseTls | undefined): false | { rejectUnauthorized: boolean; ca?: string } {
  const mode = tls?.mode ?? 'verify-full';
  if (mode === 'disable') return false;
  return { rejectUnauthorized: mode === 'verify-full', ca: tls?.ca };
}

function isDirectory(value: TenantDataPlaneOptions['directory']): value is TenantDirectory {
  return typeof (value as TenantDirectory | undefined)?.find === 'function';
}
