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
import type { Redis } from 'ioredis';
import type { TierName } from '@silo/core/tenant/tier';
import { TenantDataPlane, type TenantDataPlaneOptions } from '../data-plane/tenant-data-plane';
import { TenantRouter } from '../tenant-router';
import { TENANT_REQUEST_RATE, TenantRequestRate } from '../tenant-request-rate';
import { TENANT_TOKEN_VERIFIER, TenantAuthGuard } from './tenant-auth.guard';
import { TenantContextInterceptor } from './tenant-context.interceptor';

/** What the module builds the data plane from: plain options, each with a default but two. */
export interface TenantRouterModuleOptions extends TenantDataPlaneOptions {
  /**
   * Requests per second per tenant by tier, counted in Redis and so shared by every replica
   * (ROUTER_REQUESTS_PER_SECOND_*). Unset, or no tier given: no request rate, and no Redis.
   */
  requestRate?: {
    redis: Redis;
    /** Key prefix of the counters, e.g. `myapp:tenant-rate`. */
    keyPrefix: string;
    perSecondByTier: Partial<Record<TierName, number>>;
  };
}

export interface TenantRouterModuleAsyncOptions {
  /** Modules whose providers `inject` names. */
  imports?: ModuleMetadata['imports'];
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  useFactory: (...deps: never[]) => TenantRouterModuleOptions | Promise<TenantRouterModuleOptions>;
}

const TENANT_ROUTER_OPTIONS = Symbol('TENANT_ROUTER_OPTIONS');

/** Closes every tenant DataSource and the directory's pool when the app shuts down. */
@Injectable()
class TenantRouterShutdown implements OnApplicationShutdown {
  constructor(@Inject(TenantDataPlane) private readonly dataPlane: TenantDataPlane) {}

  async onApplicationShutdown(): Promise<void> {
    await this.dataPlane.close();
  }
}

/**
 * The data-plane router for a Nest app: one {@link TenantDataPlane} (closed on shutdown), its
 * {@link TenantRouter}, the tenant guard and the tenant-context interceptor that
 * `@TenantScoped()` applies. Global, so any controller can be `@TenantScoped()` and any provider
 * can inject the router.
 */
@Module({})
export class TenantRouterModule {
  /** The data plane from plain options (`dataPlaneOptionsFromEnv()` reads them from the environment). */
  static forRoot(options: TenantRouterModuleOptions): DynamicModule {
    return TenantRouterModule.forRootAsync({ useFactory: () => options });
  }

  static forRootAsync(options: TenantRouterModuleAsyncOptions): DynamicModule {
    return {
      module: TenantRouterModule,
      global: true,
      imports: options.imports ?? [],
      providers: [
        {
          provide: TENANT_ROUTER_OPTIONS,
          inject: options.inject ?? [],
          useFactory: options.useFactory as (...deps: unknown[]) => Promise<TenantRouterModuleOptions>,
        },
        {
          provide: TenantDataPlane,
          inject: [TENANT_ROUTER_OPTIONS],
          useFactory: (setup: TenantRouterModuleOptions) =>
            new TenantDataPlane({ ...setup, log: setup.log ?? new Logger(TenantRouter.name) }),
        },
        {
          provide: TenantRouter,
          inject: [TenantDataPlane],
          useFactory: (dataPlane: TenantDataPlane) => dataPlane.router,
        },
        {
          provide: TENANT_TOKEN_VERIFIER,
          inject: [TenantDataPlane],
          useFactory: (dataPlane: TenantDataPlane) => dataPlane.verifier,
        },
        {
          provide: TENANT_REQUEST_RATE,
          inject: [TENANT_ROUTER_OPTIONS],
          useFactory: ({ requestRate }: TenantRouterModuleOptions) =>
            requestRate && Object.keys(requestRate.perSecondByTier).length > 0
              ? new TenantRequestRate(
                  requestRate.redis,
                  requestRate.keyPrefix,
                  requestRate.perSecondByTier,
                  new Logger(TenantRequestRate.name),
                )
              : null,
        },
        TenantAuthGuard,
        TenantContextInterceptor,
        TenantRouterShutdown,
      ],
      exports: [
        TenantDataPlane,
        TenantRouter,
        TENANT_TOKEN_VERIFIER,
        TENANT_REQUEST_RATE,
        TenantAuthGuard,
        TenantContextInterceptor,
      ],
    };
  }
}
