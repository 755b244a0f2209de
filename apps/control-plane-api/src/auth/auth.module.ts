import { Module } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { JwtVerifier } from '@silo/auth';
import { SiloConfig } from '@silo/config';
import { AuthGuard } from './auth.guard';
import { RouteRulesCheck } from './route-rules.check';

@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: JwtVerifier,
      inject: [SiloConfig],
      useFactory: (config: SiloConfig) => {
        const { jwtSecret, jwksUrl, issuer, audience } = config.auth;
        if (!jwtSecret && !jwksUrl) {
          throw new Error(
            'the API needs AUTH_JWT_SECRET (development) or AUTH_JWKS_URL (production) to verify tokens',
          );
        }
        return new JwtVerifier({ hs256Secret: jwtSecret, jwksUrl, issuer, audience });
      },
    },
    { provide: APP_GUARD, useClass: AuthGuard },
    RouteRulesCheck,
  ],
  exports: [JwtVerifier],
})
export class AuthModule {}
