import { createHash } from 'node:crypto';
import type { SecretJson, TenantSecrets } from '@silo/aws';
import { ProvisioningError, ProvisioningErrorCode } from '@silo/core';
import { nextAppLogin, type RoleDefaults } from '@silo/tenant-schema';
import type { TenantDatabaseEndpoint } from '../backends/tenant-database-host';
import { generatePassword } from '../saga/passwords';
import type { CredentialsAdmin, OwnerCredentials } from '../tenant-database-admin';
import type { ChangeStepResult } from './change-steps';

/** What a rotation records of a secret's new version: never a password. */
export interface LoginPlan {
  /** The version created for this rotation (AWSPENDING until finished). */
  versionId: string;
  /** The login the data plane used before and the one it moves to (app logins only). */
  from?: string;
  to?: string;
}

/** Where an app login lives: its database, and the owner who alters its role there. */
export interface LoginAccess {
  endpoint: TenantDatabaseEndpoint;
  owner: OwnerCredentials;
}

/**
 * One app login pair to rotate: a group role holding the grants and its alternating logins
 * (`<group>_a`/`<group>_b`), named by the secret. A tenant's own (instance or schema) or a pool
 * host's shared one.
 */
export interface AppLoginTarget {
  secretName: string;
  group: string;
  /** The role defaults the new login carries: its schema and, for a tenant's login, its tenant. */
  defaults: RoleDefaults;
  /** This rotation's new version id (derived, so a re-run asks for the same). */
  versionId: string;
  /** Where the logins are and who alters them, resolved once per pass. */
  access(): Promise<LoginAccess>;
  /** Log fields naming whose login this is (tenant or host); never a secret. */
  logFields: Record<string, string>;
}

/** Secret values read in one pass, each at most once, checked to name a username and a password. Never persisted. */
export class PassSecrets {
  private readonly values = new Map<string, SecretJson>();

  constructor(private readonly secrets: Pick<TenantSecrets, 'read'>) {}

  async read(name: string, which: { versionId?: string } = {}): Promise<SecretJson> {
    const key = `${name}@${which.versionId ?? 'AWSCURRENT'}`;
    let value = this.values.get(key) ?? null;
    if (!value) {
      value = await this.secrets.read(name, which);
      if (value) this.values.set(key, value);
    }
    if (!value || typeof value.username !== 'string' || typeof value.password !== 'string') {
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `secret ${name} (${which.versionId ?? 'AWSCURRENT'}) is missing or has no username and password`,
      );
    }
    return value;
  }

  async credentials(name: string): Promise<OwnerCredentials> {
    const value = await this.read(name);
    return { username: String(value.username), password: String(value.password) };
  }

  /** After AWSCURRENT moved: the next read of the current version asks Secrets Manager again. */
  forgetCurrent(name: string): void {
    this.values.delete(`${name}@AWSCURRENT`);
  }
}

/** Logs a rotation writes (a pino logger or a saga's). */
export interface RotationLog {
  warn(fields: object, message: string): void;
}

/**
 * The app-login steps of a credential rotation by Secrets Manager's protocol, shared by a
 * tenant's rotation and a pool host's: create-secret, set-secret, test-secret, finish-secret,
 * then, after the drain, retire-previous and terminate-sessions. Each is idempotent; the caller
 * journals them and keeps the {@link LoginPlan} (never a password) between passes.
 */
export class AppLoginRotation {
  constructor(
    private readonly secrets: Pick<TenantSecrets, 'versionStages' | 'putPending' | 'promote' | 'unstage'>,
    private readonly admin: CredentialsAdmin,
    private readonly log: RotationLog,
  ) {}

  /**
   * A new version labelled AWSPENDING: the other login of the pair with a new password (`…_a` for
   * a secret that names the group itself, from before the pair). A version already AWSPENDING is
   * adopted instead, so a re-run or a rotation after a failed one continues it and never makes a
   * third. Answers the plan to record, or null when `planned` is already in the secret.
   */
  async createSecret(
    target: AppLoginTarget,
    planned: LoginPlan | undefined,
    read: PassSecrets,
  ): Promise<LoginPlan | null> {
    const stages = await this.secrets.versionStages(target.secretName);
    if (planned && stages[planned.versionId]) return null;
    const current = await read.read(target.secretName);
    const pendingId = Object.keys(stages).find((v) => stages[v].includes('AWSPENDING'));
    let versionId: string;
    if (pendingId) {
      // Left by a run that did not finish (this one before a crash, or an earlier failed one):
      // continue with it rather than make another.
      versionId = pendingId;
    } else {
      versionId = target.versionId;
      await this.secrets.putPending(
        target.secretName,
        {
          ...current,
          username: nextAppLogin(target.group, String(current.username)),
          password: generatePassword(),
        },
        versionId,
      );
    }
    const pending = await read.read(target.secretName, { versionId });
    return { versionId, from: String(current.username), to: String(pending.username) };
  }

  /**
   * The pending login made (or altered) a LOGIN member of the group with the pending password, as
   * a SCRAM verifier, with the target's role defaults; every other membership of the app roles is
   * revoked.
   */
  async setSecret(target: AppLoginTarget, plan: LoginPlan, read: PassSecrets): Promise<ChangeStepResult> {
    const pending = await read.read(target.secretName, { versionId: plan.versionId });
    const { endpoint, owner } = await target.access();
    const { revokedMemberships } = await this.admin.setAppLogin(endpoint, owner, {
      group: target.group,
      login: String(pending.username),
      password: String(pending.password),
      defaults: target.defaults,
    });
    if (revokedMemberships.length > 0) {
      this.log.warn(
        { ...target.logFields, revokedMemberships },
        'revoked role memberships granted to the app roles by hand',
      );
    }
    return { kind: 'done' };
  }

  /** A login with the pending credentials, holding the group's rights. */
  async testSecret(target: AppLoginTarget, plan: LoginPlan, read: PassSecrets): Promise<ChangeStepResult> {
    const pending = await read.read(target.secretName, { versionId: plan.versionId });
    const { endpoint } = await target.access();
    await checkLoginRetryable(this.admin, endpoint, {
      username: String(pending.username),
      password: String(pending.password),
      group: target.group,
    });
    return { kind: 'done' };
  }

  /** AWSCURRENT moves to the new version; AWSPREVIOUS marks the old one. */
  async finishSecret(target: AppLoginTarget, plan: LoginPlan, read: PassSecrets): Promise<ChangeStepResult> {
    await this.secrets.promote(target.secretName, plan.versionId);
    read.forgetCurrent(target.secretName);
    return { kind: 'done' };
  }

  /**
   * Once `drainMs` has passed since finish-secret, so that every data-plane process has refreshed
   * its secret (its TTL), the previous login is made NOLOGIN without a password. Waits without
   * blocking until then.
   */
  async retirePrevious(
    target: AppLoginTarget,
    plan: LoginPlan,
    drain: { finishedAt: Date; drainMs: number; now: Date },
  ): Promise<ChangeStepResult> {
    const remaining = drain.finishedAt.getTime() + drain.drainMs - drain.now.getTime();
    if (remaining > 0) {
      return { kind: 'wait', reason: 'the data plane picks up the new secret', delayMs: remaining };
    }
    if (plan.from && plan.from !== plan.to) {
      const { endpoint, owner } = await target.access();
      await this.admin.retireAppLogin(endpoint, owner, { group: target.group, login: plan.from });
    }
    return { kind: 'done' };
  }

  /**
   * Every session of the retired login (it can log in no more, so each is an old one) ends.
   * Idempotent: a re-run ends what is left.
   */
  async terminateSessions(target: AppLoginTarget, plan: LoginPlan): Promise<ChangeStepResult> {
    if (!plan.from || plan.from === plan.to) return { kind: 'done', data: { terminated: 0 } };
    const { endpoint, owner } = await target.access();
    return terminateSessionsOf(this.admin, this.log, target.logFields, endpoint, owner, {
      user: plan.from,
      what: 'retired app login',
    });
  }

  /**
   * A permanent failure before finish-secret: AWSCURRENT never moved, so what the data plane uses
   * still works. A login set up for the pending version is retired again and the AWSPENDING label
   * removed. Throws a classified error when it cannot.
   */
  async undo(target: AppLoginTarget, plan: LoginPlan, loginWasSet: boolean): Promise<void> {
    if (loginWasSet && plan.to && plan.to !== plan.from) {
      const { endpoint, owner } = await target.access();
      await this.admin.retireAppLogin(endpoint, owner, { group: target.group, login: plan.to });
    }
    await this.secrets.unstage(target.secretName, 'AWSPENDING', plan.versionId);
  }
}

/** Logs in with the given credentials; a refusal is retried (a new password can take a moment to apply on RDS). */
export async function checkLoginRetryable(
  admin: Pick<CredentialsAdmin, 'checkLogin'>,
  endpoint: TenantDatabaseEndpoint,
  login: { username: string; password: string; group?: string },
): Promise<void> {
  try {
    await admin.checkLogin(endpoint, { username: login.username, password: login.password }, login.group);
  } catch (error) {
    if (!(error instanceof ProvisioningError)) throw error;
    throw new ProvisioningError(ProvisioningErrorCode.DATABASE_UNAVAILABLE, error.message, { cause: error });
  }
}

/** Ends `spec.user`'s sessions (those begun before `startedBefore`); waits while some are still ending. */
export async function terminateSessionsOf(
  admin: Pick<CredentialsAdmin, 'terminateSessions'>,
  log: RotationLog,
  logFields: Record<string, string>,
  endpoint: TenantDatabaseEndpoint,
  owner: OwnerCredentials,
  spec: { user: string; startedBefore?: Date; what: string },
): Promise<ChangeStepResult> {
  const { user, startedBefore } = spec;
  const { terminated, remaining } = await admin.terminateSessions(endpoint, owner, {
    user,
    ...(startedBefore && { startedBefore }),
  });
  if (terminated > 0) {
    log.warn({ ...logFields, user, terminated, remaining }, `terminated sessions of the ${spec.what}`);
  }
  if (remaining > 0) return { kind: 'wait', reason: `${remaining} sessions of ${user} still ending` };
  return { kind: 'done', data: { user, terminated } };
}

/** A version id (ClientRequestToken) derived from `seed`, so that a re-run asks for the same. */
export function derivedVersionId(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
