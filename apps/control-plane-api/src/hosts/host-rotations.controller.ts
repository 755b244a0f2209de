import { Controller, Get, HttpCode, HttpException, Param, Post, Req } from '@nestjs/common';
import { ApiOperation, ApiParam } from '@nestjs/swagger';
import { problem } from '@silo/http';
import { HostRotations } from '@silo/fleet';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { Roles } from '../auth/route-rules';
import { sagaContext } from '../http/saga-context';
import { ApiJsonResponse, ApiProblems } from '../openapi/openapi.decorators';
import { Mutating } from '../rate-limit/mutation-rate-limit.guard';
import { ReadsLimited } from '../rate-limit/read-rate-limit.guard';
import type { HostRotationResource } from './host-rotation.responses';
import { hostRotationView } from './host-rotation.view';
import { hostIdParam } from './host.requests';

const HOST_ID = {
  name: 'id',
  description: 'The host’s id.',
  schema: { type: 'string', format: 'uuid' },
} as const;

/**
 * Rotations of a pool host's pool login: the one login the data plane serves every pooled tenant
 * of the host with, so it is rotated for all of them at once, by the host, not by a tenant.
 */
@Roles('sre', 'admin')
@ReadsLimited()
@Controller('v1')
export class HostRotationsController {
  constructor(private readonly rotations: HostRotations) {}

  @ApiOperation({
    summary: 'Rotate a pool host’s pool login',
    description:
      'Runs the host’s `rotate` saga (journaled in the host’s steps) by Secrets Manager’s rotation ' +
      'protocol: a new version of `<prefix>/hosts/<name>/pool-app` naming the other login of the ' +
      'pair (`…_pool_app_a`/`_b`) with a new password, that login set and tested as the host’s ' +
      'master user (which is never changed), the secret promoted; the data plane picks it up as it ' +
      'does a rotated tenant secret (its secret TTL, or at once on an authentication failure), and ' +
      'after CREDENTIAL_ROTATION_DRAIN_SECONDS the previous login is retired and its sessions ' +
      'ended. Every pooled tenant of the host keeps being served. With CREDENTIAL_ROTATION_DAYS the ' +
      'reconciler starts it on schedule too. No password is ever returned, logged or recorded.',
  })
  @ApiParam(HOST_ID)
  @ApiJsonResponse(202, 'HostRotation', 'The rotation, RUNNING; its job is queued.')
  @ApiProblems({
    400: 'The id is not a UUID.',
    404: 'No host has this id.',
    409: 'The host is not available (`hostStatus`), or a rotation of it is running (`heldBy`: rotation, `run`).',
    422: 'The host is a schema host (`rule`: schema-host-has-no-pool-login): each of its tenants has a login of its own.',
  })
  @Mutating()
  @Post('hosts/:id/rotate-credentials')
  @HttpCode(202)
  async rotate(@Param('id') rawId: string, @Req() req: AuthenticatedRequest): Promise<HostRotationResource> {
    return hostRotationView(await this.rotations.request(hostId(rawId), sagaContext(req)));
  }

  @ApiOperation({ summary: 'A pool host’s pool-login rotations, newest first' })
  @ApiParam(HOST_ID)
  @ApiJsonResponse(200, 'HostRotationList', 'The host’s rotations, the latest with its steps.')
  @ApiProblems({ 400: 'The id is not a UUID.', 404: 'No host has this id.' })
  @Get('hosts/:id/rotations')
  async list(@Param('id') rawId: string) {
    return { items: (await this.rotations.list(hostId(rawId))).map(hostRotationView) };
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
