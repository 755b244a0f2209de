import { Module } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { JwtVerifier, jwtVerifierFromSettings } from '@silo/auth';
import { SiloConfig } from '@silo/config';
import { AuthGuard } from './auth.guard';
import { RouteRulesCheck } from './route-rules.check';

@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: JwtVerifier,
      inject: [SiloConfig],
      useFactory: (config: SiloConfig) => jwtVerifierFromSettings(config.auth, 'the API', 'control-plane'),
    },
    { provide: APP_GUARD, useClass: AuthGuard },
    RouteRulesCheck,
  ],
  exports: [JwtVerifier],
})
export class AuthModule {}
