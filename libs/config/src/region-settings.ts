import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';

/** An AWS region name such as eu-west-1. */
export const AWS_REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d$/;

/**
 * Where one region's tenant resources go: its KMS key, network and alarm topic, and the bucket
 * that receives its deleted shared tenants' exports. Every field is of this region: a key, topic
 * or bucket of another region would put a tenant's data (or its alarms' notifications) outside it.
 */
export interface RegionSettings {
  region: string;
  kmsKeyId?: string;
  subnetGroup?: string;
  securityGroupIds: readonly string[];
  alarmTopicArn?: string;
  exportBucket?: string;
  /** The local instance backend of this region (emulator only); unset: real RDS. */
  localInstanceAdminUrl?: string;
  /** Where the local backend materialises this region's shared hosts (LOCAL_HOST_ADMIN_URLS; default its instances'). */
  localHostAdminUrl?: string;
}

/** The regions Silo places tenants in. `names[0]` is not special: `default` is AWS_REGION. */
export interface Regions {
  /** AWS_REGION: the region of a tenant that names none, and of the control plane's own secrets. */
  default: string;
  /** SILO_REGIONS, in the order given. */
  names: readonly string[];
  byName: ReadonlyMap<string, RegionSettings>;
}

/** The variables region settings are resolved from (a subset of the validated environment). */
export interface RegionEnvironment {
  AWS_REGION?: string;
  AWS_EMULATOR?: boolean;
  SILO_RESOURCE_PREFIX?: string;
  SILO_REGIONS?: string;
  SILO_REGION_SETTINGS_FILE?: string;
  LOCAL_INSTANCE_ADMIN_URL?: string;
  LOCAL_INSTANCE_ADMIN_URLS?: string;
  LOCAL_HOST_ADMIN_URLS?: string;
  KMS_KEY_ID?: string;
  RDS_SUBNET_GROUP?: string;
  RDS_SECURITY_GROUP_IDS?: string;
  ALARM_SNS_TOPIC_ARN?: string;
  ALARM_ACTIONS?: 'sns' | 'none';
  TENANT_EXPORT_BUCKET?: string;
}

export interface RegionIssue {
  variable: string;
  message: string;
}

const SUBNET_GROUP = /^[a-zA-Z0-9 ._-]{1,255}$/;
const SECURITY_GROUP = /^sg-[0-9a-f]{8,17}$/;
const TOPIC_ARN = /^arn:aws[a-z-]*:sns:([a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}$/;
const KMS_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:(key|alias)\/.+$/;
export const BUCKET_PATTERN = /^(?!xn--)[a-z0-9](?:[a-z0-9-]|\.(?!\.)){1,61}[a-z0-9]$/;

/** One region's entry of SILO_REGION_SETTINGS_FILE. Unknown fields are refused (a typo is not a default). */
const regionEntry = z.strictObject({
  kmsKeyId: z.string().min(1, 'must be a KMS key id, ARN or alias').optional(),
  subnetGroup: z.string().regex(SUBNET_GROUP, 'must be a DB subnet group name').optional(),
  securityGroupIds: z
    .array(z.string().regex(SECURITY_GROUP, 'must be a security group id (sg-…)'))
    .optional(),
  alarmTopicArn: z.string().regex(TOPIC_ARN, 'must be an SNS topic ARN').optional(),
  exportBucket: z
    .string()
    .regex(BUCKET_PATTERN, 'must be an S3 bucket name: 3-63 of a-z, 0-9, . and -')
    .optional(),
});
type RegionEntry = z.infer<typeof regionEntry>;

/**
 * The configured regions with each one's settings, or every problem found (each naming the
 * variable, and the region and field it concerns). The default region's settings are its entry in
 * SILO_REGION_SETTINGS_FILE, or else the single-region variables (KMS_KEY_ID, RDS_SUBNET_GROUP,
 * RDS_SECURITY_GROUP_IDS, ALARM_SNS_TOPIC_ARN, TENANT_EXPORT_BUCKET), never both; every other
 * region's come from the file only.
 */
export function resolveRegions(env: RegionEnvironment): { regions?: Regions; issues: RegionIssue[] } {
  const issues: RegionIssue[] = [];
  const defaultRegion = env.AWS_REGION;
  if (!defaultRegion || !AWS_REGION_PATTERN.test(defaultRegion)) return { issues }; // AWS_REGION's own rule reports it

  const names = regionList(env.SILO_REGIONS, defaultRegion, issues);
  const entries = readSettingsFile(env.SILO_REGION_SETTINGS_FILE, names, issues);
  const localUrls = localBackends(env, names, defaultRegion, issues);
  const localHostUrls = localHostBackends(env, names, localUrls, issues);

  const singleRegionVariables = (
    [
      ['KMS_KEY_ID', env.KMS_KEY_ID],
      ['RDS_SUBNET_GROUP', env.RDS_SUBNET_GROUP],
      ['RDS_SECURITY_GROUP_IDS', env.RDS_SECURITY_GROUP_IDS],
      ['ALARM_SNS_TOPIC_ARN', env.ALARM_SNS_TOPIC_ARN],
      ['TENANT_EXPORT_BUCKET', env.TENANT_EXPORT_BUCKET],
    ] as const
  ).filter(([, value]) => value !== undefined);
  if (entries.has(defaultRegion)) {
    for (const [variable] of singleRegionVariables) {
      issues.push({
        variable,
        message: `is set, but SILO_REGION_SETTINGS_FILE has an entry for ${defaultRegion} (AWS_REGION): set the default region's settings in one place`,
      });
    }
  }

  const prefix = env.SILO_RESOURCE_PREFIX ?? 'silo';
  const byName = new Map<string, RegionSettings>();
  for (const region of names) {
    const entry: RegionEntry =
      entries.get(region) ??
      (region === defaultRegion
        ? {
            kmsKeyId: env.KMS_KEY_ID,
            subnetGroup: env.RDS_SUBNET_GROUP,
            securityGroupIds: env.RDS_SECURITY_GROUP_IDS?.split(','),
            alarmTopicArn: env.ALARM_SNS_TOPIC_ARN,
            exportBucket: env.TENANT_EXPORT_BUCKET,
          }
        : {});
    const settings: RegionSettings = {
      region,
      kmsKeyId: entry.kmsKeyId,
      subnetGroup: entry.subnetGroup,
      securityGroupIds: entry.securityGroupIds ?? [],
      alarmTopicArn: entry.alarmTopicArn,
      // Bucket names are global: the emulator's default differs per region (the default region's
      // keeps the name it had before regions existed).
      exportBucket:
        entry.exportBucket ??
        (env.AWS_EMULATOR
          ? region === defaultRegion
            ? `${prefix}-exports`
            : `${prefix}-exports-${region}`
          : undefined),
      localInstanceAdminUrl: localUrls.get(region),
      localHostAdminUrl: localHostUrls.get(region),
    };
    checkResidency(settings, region === defaultRegion && !entries.has(region), env, issues);
    byName.set(region, settings);
  }

  const buckets = new Map<string, string>();
  for (const settings of byName.values()) {
    if (!settings.exportBucket) continue;
    const other = buckets.get(settings.exportBucket);
    if (other) {
      issues.push({
        variable: 'SILO_REGION_SETTINGS_FILE',
        message: `${settings.region}.exportBucket: ${settings.exportBucket} is also ${other}'s export bucket; a bucket lives in one region, so each region needs its own`,
      });
    }
    buckets.set(settings.exportBucket, settings.region);
  }

  return issues.length ? { issues } : { regions: { default: defaultRegion, names, byName }, issues };
}

function regionList(value: string | undefined, defaultRegion: string, issues: RegionIssue[]): string[] {
  if (value === undefined) return [defaultRegion];
  const names = value.split(',').map((name) => name.trim());
  const seen = new Set<string>();
  for (const name of names) {
    if (!AWS_REGION_PATTERN.test(name)) {
      issues.push({
        variable: 'SILO_REGIONS',
        message: `"${name}" is not an AWS region such as eu-west-1 (comma-separated regions)`,
      });
    } else if (seen.has(name)) {
      issues.push({ variable: 'SILO_REGIONS', message: `names ${name} twice` });
    }
    seen.add(name);
  }
  if (!seen.has(defaultRegion)) {
    issues.push({
      variable: 'SILO_REGIONS',
      message: `must include AWS_REGION (${defaultRegion}): it is the region of a tenant that names none`,
    });
  }
  return [...seen].filter((name) => AWS_REGION_PATTERN.test(name));
}

function readSettingsFile(
  file: string | undefined,
  regions: readonly string[],
  issues: RegionIssue[],
): Map<string, RegionEntry> {
  const entries = new Map<string, RegionEntry>();
  if (file === undefined) return entries;
  const variable = 'SILO_REGION_SETTINGS_FILE';
  const path = resolve(file);
  if (!existsSync(path)) {
    issues.push({ variable, message: `file ${path} does not exist` });
    return entries;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    issues.push({ variable, message: `${path} is not JSON (${(error as Error).message})` });
    return entries;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    issues.push({ variable, message: `${path} must hold an object keyed by region ({"eu-central-1": {…}})` });
    return entries;
  }
  for (const [region, value] of Object.entries(parsed)) {
    if (!regions.includes(region)) {
      issues.push({
        variable,
        message: `${region}: not in SILO_REGIONS (${regions.join(', ')}); add it there or remove its entry`,
      });
      continue;
    }
    const result = regionEntry.safeParse(value);
    if (!result.success) {
      for (const issue of result.error.issues) {
        const field = issue.path.length ? issue.path.join('.') : '(entry)';
        const message =
          issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue.message;
        issues.push({ variable, message: `${region}.${field}: ${message}` });
      }
      continue;
    }
    entries.set(region, result.data);
  }
  return entries;
}

/** LOCAL_INSTANCE_ADMIN_URLS (`<region>=<url>,…`) over LOCAL_INSTANCE_ADMIN_URL for every region. */
function localBackends(
  env: RegionEnvironment,
  regions: readonly string[],
  defaultRegion: string,
  issues: RegionIssue[],
): Map<string, string> {
  const urls = new Map<string, string>();
  const variable = 'LOCAL_INSTANCE_ADMIN_URLS';
  if (env.LOCAL_INSTANCE_ADMIN_URLS !== undefined && !env.LOCAL_INSTANCE_ADMIN_URL) {
    issues.push({
      variable,
      message:
        "is set without LOCAL_INSTANCE_ADMIN_URL: the local backend is the default region's first (LOCAL_INSTANCE_ADMIN_URL), then other regions' own",
    });
    return urls;
  }
  if (!env.LOCAL_INSTANCE_ADMIN_URL) return urls;
  for (const region of regions) urls.set(region, env.LOCAL_INSTANCE_ADMIN_URL);
  const pairs = regionUrlPairs(variable, env.LOCAL_INSTANCE_ADMIN_URLS, regions, issues, (region, url) =>
    region === defaultRegion && url !== env.LOCAL_INSTANCE_ADMIN_URL
      ? `${region} is AWS_REGION, whose local backend is LOCAL_INSTANCE_ADMIN_URL: set it in one place`
      : null,
  );
  for (const [region, url] of pairs) urls.set(region, url);
  return urls;
}

/**
 * LOCAL_HOST_ADMIN_URLS (`<region>=<url>,…`): the server a region's shared hosts are
 * materialised on, apart from its instances' (a moved tenant's logins exist on both its source
 * and its target, and PostgreSQL roles belong to a server). Unset for a region: its instances'.
 */
function localHostBackends(
  env: RegionEnvironment,
  regions: readonly string[],
  instances: ReadonlyMap<string, string>,
  issues: RegionIssue[],
): Map<string, string> {
  const variable = 'LOCAL_HOST_ADMIN_URLS';
  const urls = new Map(instances);
  if (env.LOCAL_HOST_ADMIN_URLS === undefined) return urls;
  if (instances.size === 0) {
    issues.push({
      variable,
      message: 'is set without LOCAL_INSTANCE_ADMIN_URL: shared hosts are local only with the local backend',
    });
    return urls;
  }
  for (const [region, url] of regionUrlPairs(variable, env.LOCAL_HOST_ADMIN_URLS, regions, issues))
    urls.set(region, url);
  return urls;
}

/** `<region>=<postgres URL>` pairs of `variable`, each region configured and each URL a postgres one (never echoed). */
function regionUrlPairs(
  variable: string,
  value: string | undefined,
  regions: readonly string[],
  issues: RegionIssue[],
  /** A further refusal of one pair (its message), reported in the pairs' order. */
  refuse: (region: string, url: string) => string | null = () => null,
): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const item of (value ?? '').split(',').filter((s) => s.trim() !== '')) {
    const at = item.indexOf('=');
    const region = at > 0 ? item.slice(0, at).trim() : '';
    const url = at > 0 ? item.slice(at + 1).trim() : '';
    if (!region || !url) {
      issues.push({ variable, message: 'must be comma-separated <region>=<postgres URL> pairs' });
      continue;
    }
    if (!regions.includes(region)) {
      issues.push({ variable, message: `${region}: not in SILO_REGIONS (${regions.join(', ')})` });
      continue;
    }
    let protocol = '';
    try {
      protocol = new URL(url).protocol;
    } catch {
      // reported below, without the value (it may hold a password)
    }
    if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
      issues.push({
        variable,
        message: `${region}: must be a URL starting with postgres:// or postgresql://`,
      });
      continue;
    }
    const refusal = refuse(region, url);
    if (refusal) {
      issues.push({ variable, message: refusal });
      continue;
    }
    pairs.push([region, url]);
  }
  return pairs;
}

/** A key or topic ARN names its region: it must be the region it serves. */
function checkResidency(
  settings: RegionSettings,
  fromSingleVariables: boolean,
  env: RegionEnvironment,
  issues: RegionIssue[],
): void {
  const { region } = settings;
  const where = (field: string, variable: string) =>
    fromSingleVariables
      ? { variable, prefix: '' }
      : { variable: 'SILO_REGION_SETTINGS_FILE', prefix: `${region}.${field}: ` };
  const kmsRegion = settings.kmsKeyId ? KMS_ARN.exec(settings.kmsKeyId)?.[1] : undefined;
  if (kmsRegion && kmsRegion !== region) {
    const { variable, prefix } = where('kmsKeyId', 'KMS_KEY_ID');
    issues.push({
      variable,
      message: `${prefix}is a key of ${kmsRegion}, but encrypts ${region}'s tenants: a key serves its own region only`,
    });
  }
  const topicRegion = settings.alarmTopicArn ? TOPIC_ARN.exec(settings.alarmTopicArn)?.[1] : undefined;
  if (topicRegion && topicRegion !== region) {
    const { variable, prefix } = where('alarmTopicArn', 'ALARM_SNS_TOPIC_ARN');
    issues.push({
      variable,
      message: `${prefix}is a topic of ${topicRegion}, but CloudWatch alarms in ${region} notify topics of ${region} only`,
    });
  }
  if (env.ALARM_ACTIONS === 'none' && settings.alarmTopicArn && !fromSingleVariables) {
    issues.push({
      variable: 'SILO_REGION_SETTINGS_FILE',
      message: `${region}.alarmTopicArn: is set, but ALARM_ACTIONS is none: unset one of them`,
    });
  }
  // The default region's single variables keep their own rules (ALARM_SNS_TOPIC_ARN's) in the schema.
  if (
    !fromSingleVariables &&
    (env.ALARM_ACTIONS ?? 'sns') === 'sns' &&
    !settings.alarmTopicArn &&
    !env.AWS_EMULATOR
  ) {
    issues.push({
      variable: 'SILO_REGION_SETTINGS_FILE',
      message: `${region}.alarmTopicArn: is required against real AWS (AWS_EMULATOR unset): without it ${region}'s tenant alarms notify nobody; set ALARM_ACTIONS=none to create them without actions on purpose`,
    });
  }
}
