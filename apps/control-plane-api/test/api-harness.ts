import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { mintDevToken, type Role } from '@silo/auth';
import type { SiloConfig } from '@silo/config';
import { API_APP_OPTIONS, configureApiApp } from '../src/api-app';
import { AppModule } from '../src/app.module';

export interface ApiHarness {
  app: INestApplication;
  config: SiloConfig;
  /** `Authorization` header value for a dev token with `roles` (sub defaults to the roles joined). */
  auth(roles: Role[], sub?: string): Promise<string>;
  close(): Promise<void>;
}

/** The API as main.ts builds it, on an ephemeral in-process server, with dev tokens. */
export async function startApi(config: SiloConfig): Promise<ApiHarness> {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.register(config)] }).compile();
  const app = configureApiApp(moduleRef.createNestApplication(API_APP_OPTIONS), config);
  await app.init();
  return {
    app,
    config,
    auth: async (roles, sub) =>
      `Bearer ${await mintDevToken({
        secret: config.auth.jwtSecret!,
        sub: sub ?? `${roles.join('-')}-user`,
        roles,
        issuer: config.auth.issuer,
        audience: config.auth.audience,
      })}`,
    close: () => app.close(),
  };
}
