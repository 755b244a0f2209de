import { Module } from '@nestjs/common';
import { DependencyProbes } from './dependency-probes';
import { HealthController } from './health.controller';
import { ReadinessService } from './readiness.service';

@Module({
  controllers: [HealthController],
  providers: [DependencyProbes, ReadinessService],
})
export class HealthModule {}
