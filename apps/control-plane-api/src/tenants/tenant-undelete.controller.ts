import { Controller, HttpCode, HttpException, Param, Post, Req } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { ProvisioningError } from '@silo/core';
import { TenantUndeletes } from '@silo/fleet';
import { problem } from '@silo/http';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { Roles } from '../auth/route-rules';
import { sagaContext } from '../http/saga-context';
import { ApiJsonResponse, ApiProblems, ApiTenantParam } from '../openapi/openapi.decorators';
import { Mutating } from '../rate-limit/mutation-rate-limit.guard';
import { TenantViews } from './tenant-views';

/** Undeletes of DELETED tenants (a change of kind `undelete`). Admin only. */
@Roles('admin')
@Controller('v1/tenants')
export class TenantUndeleteController {
  constructor(
    private readonly undeletes: TenantUndeletes,
    private readonly views: TenantViews,
  ) {}

  /**
   * 202 and the DELETED tenant, its `change` (kind `undelete`) RUNNING; the undelete job is written
   * to the outbox in the same transaction. An undelete Silo cannot make is refused (409 or 422
   * naming the rule), and nothing is recorded.
   */
  @ApiOperation({
    summary: 'Undelete a DELETED tenant',
    description:
      'Runs an `undelete` saga that brings a DELETED tenant back to ACTIVE with the same id and slug. ' +
      'A tenant on an instance of its own: its master and app secrets are restored (RestoreSecret: the same ' +
      'credentials, so its application reaches its rows with what it had), its final snapshot is ' +
      'restored into its own instance name with the tier’s settings (RestoreDBInstanceFromDBSnapshot), ' +
      'its app logins and grants are converged to the app secret, its schema is migrated to the ' +
      'newest version, its alarms are made again, and it becomes ACTIVE. The tenant stays DELETED ' +
      '(and refused by the data plane) until then; a failure removes what the undelete made and ' +
      'leaves it DELETED, with the reason on its `change`. Possible only inside the secrets’ recovery ' +
      'window (SECRET_RECOVERY_WINDOW_DAYS from the deletion) and while the final snapshot exists. ' +
      'A schema or pool tenant is brought back from the S3 export its deletion made: a place on a host ' +
      'of its tier, the export put back there in one transaction (a schema tenant’s dump with its ' +
      'migration ledger made again to the version it held; a pooled tenant’s rows), a schema tenant’s ' +
      'app secret restored and its role and login made from it, its migrations to the newest, and ACTIVE ' +
      'on that host.',
  })
  @ApiTenantParam()
  @ApiJsonResponse(202, 'Tenant', 'The tenant, still DELETED, with `change` (kind `undelete`) RUNNING.')
  @ApiProblems({
    404: 'No tenant has this id or slug.',
    409:
      'The tenant is not DELETED (`tenantStatus`), is being undeleted already (`heldBy`: change), or the undelete ' +
      'cannot be made (`rule`): recovery-window-ended (a secret is gone or past its deletion date: `secret`, ' +
      '`deletionDate`), no-final-snapshot (its deletion took none), final-snapshot-missing (`snapshot`: deleted ' +
      'since), final-snapshot-not-ready (`snapshot`), slug-reused (another tenant holds its slug, secrets or ' +
      'instance name), instance-exists (an instance has its name already: `instance`); for a schema or pool ' +
      'tenant: no-export (its deletion exported nothing), export-missing (`export`: no longer in S3), ' +
      'placement-changed (`placement`, `tier`: its tier places tenants elsewhere now), unknown-schema-version ' +
      '(`schemaVersion`: not one of the application’s migrations).',
    503: 'RDS, S3 or Secrets Manager could not be read for the final snapshot or export and the secrets’ recovery window; nothing was recorded.',
  })
  @Mutating()
  @Post(':idOrSlug/undelete')
  @HttpCode(202)
  async undelete(@Param('idOrSlug') idOrSlug: string, @Req() req: AuthenticatedRequest) {
    const tenant = await this.views.required(idOrSlug);
    try {
      return this.views.view(await this.undeletes.requestUndelete(tenant.id, sagaContext(req)));
    } catch (error) {
      if (!(error instanceof ProvisioningError)) throw error;
      throw new HttpException(
        problem(503, `AWS did not answer (${error.code}); nothing was recorded, try again.`),
        503,
      );
    }
  }
}
