import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import type { Response } from 'express';
import { Registry } from 'prom-client';
import { Roles } from '../auth/route-rules';

/** Registered only without `METRICS_PORT` (then the metrics have a listener of their own). */
@Roles('sre', 'admin')
@Controller()
export class MetricsController {
  constructor(private readonly registry: Registry) {}

  /** Prometheus text exposition. A source that is down leaves its families out; it never fails the scrape. */
  @ApiOperation({
    summary: 'Prometheus metrics',
    description:
      'Queue depth, job passes by outcome, step durations, tenants by status and tier, and this ' +
      'process’s own metrics, in the Prometheus text format (version 0.0.4). Served here only ' +
      'while `METRICS_PORT` is unset; with it, on that port with no token, and not on this one.',
  })
  @ApiOkResponse({
    description: 'The metrics in the Prometheus text exposition format.',
    content: { 'text/plain': { schema: { type: 'string' } } },
  })
  @Get('metrics')
  async metrics(@Res({ passthrough: true }) res: Response): Promise<string> {
    res.setHeader('Content-Type', this.registry.contentType);
    res.setHeader('Cache-Control', 'no-store');
    return this.registry.metrics();
  }
}
