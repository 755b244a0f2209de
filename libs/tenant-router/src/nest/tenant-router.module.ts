import {
  DynamicModule,
  Inject,
  Injectable,
  Logger,
  Module,
  OnApplicationShutdown,
  type InjectionToken,
  type ModuleMetadata,
  type OptionalFactoryDependency,
} from '@nestjs/common';
import type { JwtVerifier } from '@silo/auth';
import { TenantRouter } from '../tenant-router';
import type { TenantCredentialSource, TenantDirectory, TenantRouterOptions } from '../tenant-router.types';
import { TENANT_TOKEN_VERIFIER, TenantAuthGuard } from './tenant-auth.guard';
import { TenantContextInterceptor } from './tenant-context.interceptor';
import { TENANT_REQUEST_RATE, type TenantRequestRate } from './tenant-request-rate';

/** What the module builds the router and the guard from. */
export interface TenantRouterSetup {
  /** Where tenants' slug, tier and status come from (e.g. `ControlPlaneTenantDirectory`). */
  directory: TenantDirectory;
  /** Where tenants' app credentials come from (e.g. `SecretsManagerCredentialSource`). */
  credentials: TenantCredentialSource;
  /** Bounds and TTLs (e.g. `tenantRouterOptionsFromConfig(config, [NoteEntity])`). */
  options: TenantRouterOptions;
  /**
   * Verifies bearer tokens: a data-plane verifier with its own audience
   * (`jwtVerifierFromSettings(config.auth, app, 'data-plane')`), or the module refuses to start.
   * The tenant is the `tenant_id` claim of a token it accepts.
   */
  verifier: JwtVerifier;
  /** Requests per second per tenant by tier, shared across replicas; none: no rate limit. */
  requestRate?: TenantRequestRate;
}

export interface TenantRouterModuleAsyncOptions {
  /** Modules whose providers `inject` names. */
  imports?: ModuleMetadata['imports'];
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  useFactory: (...deps: never[]) => TenantRouterSetup | Promise<TenantRouterSetup>;
}

const TENANT_ROUTER_SETUP = Symbol('TENANT_ROUTER_SETUP');

/** Closes every tenant DataSource when the app shuts down. */
@Injectable()
class TenantRouterShutdown implements OnApplicationShutdown {
  constructor(@Inject(TenantRouter) private readonly router: TenantRouter) {}

  async onApplicationShutdown(): Promise<void> {
    await this.router.close();
  }
}

/**
 * The data-plane router for a Nest app: one {@link TenantRouter} (closed on shutdown), the
 * tenant guard and the tenant-context interceptor that `@TenantScoped()` applies. Global, so
 * any controller can be `@TenantScoped()` and any provider can inject the router.
 */
@Module({})
export class TenantRouterModule {
  static forRootAsync(options: TenantRouterModuleAsyncOptions): DynamicModule {
    return {
      module: TenantRouterModule,
      global: true,
      imports: options.imports ?? [],
      providers: [
        {
          provide: TENANT_ROUTER_SETUP,
          inject: options.inject ?? [],
          useFactory: options.useFactory as (...deps: unknown[]) => Promise<TenantRouterSetup>,
        },
        {
          provide: TenantRouter,
          inject: [TENANT_ROUTER_SETUP],
          useFactory: (setup: TenantRouterSetup) =>
            new TenantRouter(
              setup.directory,
              setup.credentials,
              setup.options,
              new Logger(TenantRouter.name),
            ),
        },
        {
          provide: TENANT_TOKEN_VERIFIER,
          inject: [TENANT_ROUTER_SETUP],
          useFactory: (setup: TenantRouterSetup) => {
            // The data plane's own tokens only: a verifier for the control plane (or for neither)
            // would let an operator token with a tenant_id added open that tenant's database.
            if (setup.verifier.plane !== 'data-plane' || !setup.verifier.audience) {
              throw new Error(
                "the tenant router needs a data-plane verifier with the data plane's own audience: jwtVerifierFromSettings(config.auth, app, 'data-plane')",
              );
            }
            return setup.verifier;
          },
        },
        {
          provide: TENANT_REQUEST_RATE,
          inject: [TENANT_ROUTER_SETUP],
          useFactory: (setup: TenantRouterSetup) => setup.requestRate ?? null,
        },
        TenantAuthGuard,
        TenantContextInterceptor,
        TenantRouterShutdown,
      ],
      exports: [
        TenantRouter,
        TENANT_TOKEN_VERIFIER,
        TENANT_REQUEST_RATE,
        TenantAuthGuard,
        TenantContextInterceptor,
      ],
    };
  }
}
