import { DescribeDBEngineVersionsCommand, type DBEngineVersion } from '@aws-sdk/client-rds';
import { Inject, Injectable } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import { awsCall } from './aws-error-classification';
import { AwsClients, regionalAdapter, type AwsClientSet } from './aws-clients';

/**
 * What RDS says of a PostgreSQL version a tier profile or an instance names:
 * - `available`: new instances may be made with it (`resolved`: the minor RDS picks for a major,
 *   its default one, or the minor itself);
 * - `deprecated`: RDS still runs it but makes no new instance with it;
 * - `unoffered`: RDS does not know it (never offered, or gone);
 * - `unknown`: RDS could not be asked (an emulator that does not implement DescribeDBEngineVersions).
 */
export type EngineVersionStatus =
  | { version: string; status: 'available'; resolved: string }
  | { version: string; status: 'deprecated' | 'unoffered' | 'unknown' };

/** How long an answer is kept: RDS's catalogue changes over months, and a pass asks once per version. */
const CACHE_MS = 60 * 60 * 1000;

/**
 * The PostgreSQL engine versions RDS offers (DescribeDBEngineVersions), cached an hour per
 * version and region. A major (`17`) resolves to RDS's default minor of it; a minor (`17.2`) is
 * looked up with deprecated versions included, so that one RDS no longer offers for new instances
 * says so rather than looking absent.
 */
@Injectable()
export class RdsEngineVersions {
  private readonly cache = new Map<string, { at: number; answer: Promise<EngineVersionStatus> }>();
  private readonly regions = new Map<string, RdsEngineVersions>();

  /** The clock the cache ages by (tests move it). */
  now: () => number = () => Date.now();

  /**
   * With the emulator RDS is not asked (`unknown`): moto does not implement
   * DescribeDBEngineVersions (it answers an HTML 500 the SDK retries), so asking would only slow
   * every worker's start.
   */
  private readonly emulator: boolean;

  constructor(
    @Inject(AwsClients) private readonly aws: AwsClientSet,
    private readonly config: SiloConfig,
  ) {
    this.emulator = config.aws.emulator;
  }

  inRegion(region: string): RdsEngineVersions {
    return regionalAdapter(this, this.aws.region, this.regions, region, () =>
      Object.assign(new RdsEngineVersions(this.aws.forRegion(region), this.config), { now: this.now }),
    );
  }

  /** What RDS says of `version` (a major or a major.minor); see {@link EngineVersionStatus}. */
  status(version: string): Promise<EngineVersionStatus> {
    const cached = this.cache.get(version);
    if (cached && this.now() - cached.at < CACHE_MS) return cached.answer;
    const answer = this.ask(version);
    this.cache.set(version, { at: this.now(), answer });
    // A failure is not kept: the next call asks again.
    answer.catch(() => this.cache.delete(version));
    return answer;
  }

  private async ask(version: string): Promise<EngineVersionStatus> {
    if (this.emulator) return { version, status: 'unknown' };
    const major = !version.includes('.');
    let found: DBEngineVersion[];
    try {
      found = await this.describe(version, major);
    } catch (error) {
      if (notImplemented(error)) return { version, status: 'unknown' };
      throw error;
    }
    if (major) {
      const resolved = found.find((v) => v.EngineVersion && v.Status !== 'deprecated')?.EngineVersion;
      return resolved ? { version, status: 'available', resolved } : { version, status: 'unoffered' };
    }
    const exact = found.find((v) => v.EngineVersion === version);
    if (!exact) return { version, status: 'unoffered' };
    return exact.Status === 'deprecated'
      ? { version, status: 'deprecated' }
      : { version, status: 'available', resolved: version };
  }

  private async describe(version: string, major: boolean): Promise<DBEngineVersion[]> {
    const versions: DBEngineVersion[] = [];
    let marker: string | undefined;
    do {
      const page = await awsCall('DescribeDBEngineVersions', () =>
        this.aws.rds.send(
          new DescribeDBEngineVersionsCommand({
            Engine: 'postgres',
            EngineVersion: version,
            // A major: the default minor RDS makes new instances with. A minor: deprecated ones too.
            ...(major ? { DefaultOnly: true } : { IncludeAll: true }),
            Marker: marker,
          }),
        ),
      );
      versions.push(...(page.DBEngineVersions ?? []));
      marker = page.Marker;
    } while (marker);
    return versions;
  }
}

/** An emulator's answer to a call it does not implement (moto: "… has not been implemented"). */
function notImplemented(error: unknown): boolean {
  const e = (error ?? {}) as { name?: string; message?: string; cause?: unknown };
  const text = `${e.name ?? ''} ${e.message ?? ''}`;
  if (/not ?implemented|has not been implemented/i.test(text)) return true;
  return e.cause !== undefined && e.cause !== error && notImplemented(e.cause);
}
