import { Controller, Get, HttpException, Param, Query } from '@nestjs/common';
import { ApiOperation, ApiParam } from '@nestjs/swagger';
import { HOST_STATUSES } from '@silo/control-plane-db';
import { hostResourceNames } from '@silo/core';
import { parseInput, problem } from '@silo/http';
import { HostError, HostErrorCode, HostQueries, ProvisioningSettings, Reconciliation } from '@silo/fleet';
import { FleetAlarms } from '../alarms/fleet-alarms.service';
import { Roles } from '../auth/route-rules';
import { ApiJsonResponse, ApiProblems, ApiQueryFrom, TIER_FILTER_PARAM } from '../openapi/openapi.decorators';
import { ReadsLimited } from '../rate-limit/read-rate-limit.guard';
import { encodeHostCursor, hostIdParam, listHostsQuery, SHARED_PLACEMENTS } from './host.requests';
import type { HostList, HostResource } from './host.responses';
import { hostView, type HostAlarms } from './host.view';

const DEFAULT_PAGE_SIZE = 50;

/**
 * The shared hosts (design.md, "Placements"): RDS instances Silo runs for `schema` and `pool`
 * tenants. Read-only, for the SREs who run the fleet (and admins).
 */
@Roles('sre', 'admin')
@ReadsLimited()
@Controller('v1')
export class HostsController {
  constructor(
    private readonly hosts: HostQueries,
    private readonly fleetAlarms: FleetAlarms,
    private readonly settings: ProvisioningSettings,
    private readonly reconciliation: Reconciliation,
  ) {}

  /** Newest first, keyset-paginated; `nextCursor` is null on the last page. */
  @ApiOperation({
    summary: 'List shared hosts, newest first',
    description:
      'Each with its tenants placed, capacity, endpoint, alarms (from the fleet alarm view, never waited for: null until this API process has read CloudWatch) and the reconciler’s open findings.',
  })
  @ApiQueryFrom(listHostsQuery, {
    placement: {
      description: 'Only hosts of these placements (comma-separated).',
      schema: { type: 'array', items: { type: 'string', enum: [...SHARED_PLACEMENTS] } },
      style: 'form',
      explode: false,
    },
    tier: { description: 'Only hosts of these tiers (comma-separated).', ...TIER_FILTER_PARAM },
    status: {
      description: 'Only hosts in these statuses (comma-separated).',
      schema: { type: 'array', items: { type: 'string', enum: [...HOST_STATUSES] } },
      style: 'form',
      explode: false,
    },
    limit: {
      description: 'Page size.',
      schema: { type: 'integer', minimum: 1, maximum: 200, default: DEFAULT_PAGE_SIZE },
    },
    cursor: { description: 'The `nextCursor` of the previous page.', schema: { type: 'string' } },
  })
  @ApiJsonResponse(200, 'HostList', 'One page of hosts.')
  @ApiProblems({ 400: 'A query parameter is invalid or unknown; `errors` names each.' })
  @Get('hosts')
  async list(@Query() rawQuery: unknown): Promise<HostList> {
    const query = parseInput(listHostsQuery, rawQuery, 'query');
    const page = await this.hosts.list({
      placements: query.placement,
      tiers: query.tier,
      statuses: query.status,
      limit: query.limit ?? DEFAULT_PAGE_SIZE,
      after: query.cursor,
    });
    const snapshot = this.fleetAlarms.current();
    const findings = await this.reconciliation.findingsOfHosts(page.items.map((h) => h.host.id));
    return {
      items: page.items.map((h) =>
        hostView(
          h,
          snapshot ? this.alarmsOf(h.host.name, snapshot.readAt, snapshot.bySlug) : null,
          findings.get(h.host.id) ?? [],
        ),
      ),
      nextCursor: page.next ? encodeHostCursor(page.next) : null,
    };
  }

  @ApiOperation({
    summary: 'Get a shared host',
    description:
      'Its alarms come from the fleet alarm view; only the first read after the API starts waits for CloudWatch, and `alarms` is null when that read failed. `findings` are what the reconciler found on it and has not put right.',
  })
  @ApiParam({ name: 'id', description: 'The host’s id.', schema: { type: 'string', format: 'uuid' } })
  @ApiJsonResponse(200, 'Host', 'The host.')
  @ApiProblems({ 400: 'The id is not a UUID.', 404: 'No host has this id.' })
  @Get('hosts/:id')
  async get(@Param('id') rawId: string): Promise<HostResource> {
    const id = hostId(rawId);
    const found = await this.hosts.find(id);
    if (!found) throw new HostError(HostErrorCode.HOST_NOT_FOUND, `no host ${id}`);
    const [snapshot, findings] = await Promise.all([
      this.fleetAlarms.snapshot().catch(() => undefined),
      this.reconciliation.findingsOfHosts([found.host.id]),
    ]);
    return hostView(
      found,
      snapshot ? this.alarmsOf(found.host.name, snapshot.readAt, snapshot.bySlug) : null,
      findings.get(found.host.id) ?? [],
    );
  }

  /**
   * A host's alarms are named `<prefix>-host-<name>-<metric>`, so the fleet view files them under
   * `host-<name>` (no tenant slug begins with `host-`).
   */
  private alarmsOf(name: string, readAt: Date, bySlug: ReadonlyMap<string, HostAlarms['items']>): HostAlarms {
    const instance = hostResourceNames(this.settings.prefix, name).instanceIdentifier;
    return { readAt, items: bySlug.get(instance.slice(this.settings.prefix.length + 1)) ?? [] };
  }
}

/** The path's host id, or 400 naming `path.id` (the request parsers of @silo/http take no path parts). */
function hostId(raw: string): string {
  const parsed = hostIdParam.safeParse(raw);
  if (parsed.success) return parsed.data.toLowerCase();
  const message = parsed.error.issues[0]?.message ?? 'must be a UUID';
  throw new HttpException(
    problem(400, `path.id: ${message}`, { errors: [{ field: 'path.id', message }] }),
    400,
  );
}
