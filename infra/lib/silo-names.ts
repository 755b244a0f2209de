import { environmentSchema } from '../../libs/config/src/config.schema';
import { dataPlaneSecretName } from '../../libs/core/src/provisioning/control-plane-names';
import { manualSnapshotIdentifier } from '../../libs/fleet/src/jobs/snapshot-jobs';
import {
  hostResourceNames,
  hostTags,
  RESTORED_FROM_TAG,
  restoreCopyNames,
  tenantResourceNames,
  tenantTags,
} from '../../libs/core/src/provisioning/tenant-resource-names';

/**
 * Names of what the prerequisites stack creates. `localstack/ready.d/10-silo-prerequisites.sh`
 * creates the same names in the emulator (a test compares the two).
 */
export interface PrerequisiteNames {
  /** KMS alias of the key for tenant storage, Performance Insights and secrets. */
  tenantKeyAlias: string;
  /** KMS alias of the key that encrypts the alarm topic. */
  alarmKeyAlias: string;
  alarmTopic: string;
  tenantSubnetGroup: string;
  tenantSecurityGroup: string;
  dataPlaneSecurityGroup: string;
  controlPlaneSecurityGroup: string;
  workerPolicy: string;
  apiPolicy: string;
  dataPlanePolicy: string;
  /** The control-plane migration's policy: it keeps the data plane's login secret. */
  migratePolicy: string;
  /** The data plane's login to the control-plane database (libs/core `dataPlaneSecretName`). */
  dataPlaneSecret: string;
  /**
   * The control plane's own database. Deliberately outside `<prefix>-*`, the tenant instance
   * pattern, so that no tenant slug can collide with it and no worker permission reaches it.
   */
  controlPlaneDatabaseInstance: string;
  controlPlaneDatabaseSecret: string;
  controlPlaneRedis: string;
  controlPlaneRedisSecret: string;
}

export function prerequisiteNames(prefix: string): PrerequisiteNames {
  return {
    tenantKeyAlias: `alias/${prefix}-tenants`,
    alarmKeyAlias: `alias/${prefix}-alarms`,
    alarmTopic: `${prefix}-alarms`,
    tenantSubnetGroup: `${prefix}-tenants`,
    tenantSecurityGroup: `${prefix}-tenant-db`,
    dataPlaneSecurityGroup: `${prefix}-data-plane`,
    controlPlaneSecurityGroup: `${prefix}-control-plane`,
    workerPolicy: `${prefix}-provisioning-worker`,
    apiPolicy: `${prefix}-control-plane-api`,
    dataPlanePolicy: `${prefix}-data-plane`,
    migratePolicy: `${prefix}-control-plane-migrate`,
    dataPlaneSecret: dataPlaneSecretName(prefix),
    controlPlaneDatabaseInstance: `${prefix}controlplane`,
    controlPlaneDatabaseSecret: `${prefix}-control-plane/database`,
    controlPlaneRedis: `${prefix}-control-plane`,
    controlPlaneRedisSecret: `${prefix}-control-plane/redis-auth-token`,
  };
}

/** Name patterns (IAM wildcards) that match every tenant's resources and nothing else Silo names. */
export interface TenantResourcePatterns {
  /** `<prefix>-*`: RDS instance identifiers. */
  instance: string;
  /** `<prefix>-*-final-*`: final snapshots taken at deprovisioning. */
  finalSnapshot: string;
  /** `<prefix>-*-manual-*`: snapshots taken on request (POST /v1/tenants/{id}/snapshots). */
  manualSnapshot: string;
  /** `<prefix>-restore-*`: restore copies' instances (inside the instance pattern). */
  restoreCopy: string;
  /** `<prefix>/*\/master`, `<prefix>/*\/app`: secret names (ARNs add `-` and six random characters). */
  masterSecret: string;
  appSecret: string;
  /** `<prefix>-*-*`: CloudWatch alarm names (`<prefix>-<slug>-<metric>`). */
  alarm: string;
}

/**
 * The worker's own naming function (libs/core) applied to the slug `*`, so the policies follow
 * whatever names the code gives.
 */
export function tenantResourcePatterns(prefix: string): TenantResourcePatterns {
  const names = tenantResourceNames(prefix, '*');
  const snapshot = names.finalSnapshotIdentifier(new Date(0));
  const finalSnapshot = snapshot.replace(/-final-[0-9-]+$/, '-final-*');
  if (finalSnapshot === snapshot) {
    throw new Error(`final snapshot names no longer end in -final-<timestamp>: ${snapshot}`);
  }
  const manual = manualSnapshotIdentifier(names.instanceIdentifier, new Date(0));
  const manualSnapshot = manual.replace(/-manual-[0-9-]+$/, '-manual-*');
  if (manualSnapshot === manual) {
    throw new Error(`manual snapshot names no longer end in -manual-<timestamp>: ${manual}`);
  }
  const copy = restoreCopyNames(prefix, '*', 1).instanceIdentifier;
  const restoreCopy = copy.replace(/-\*-1$/, '-*');
  if (restoreCopy === copy)
    throw new Error(`restore copies are no longer named <prefix>-restore-<slug>-<run>: ${copy}`);
  return {
    instance: names.instanceIdentifier,
    finalSnapshot,
    manualSnapshot,
    restoreCopy,
    masterSecret: names.masterSecretName,
    appSecret: names.appSecretName,
    alarm: names.alarmName('*'),
  };
}

/** Name patterns (IAM wildcards) that match every shared host's resources. */
export interface HostResourcePatterns {
  /** `<prefix>-host-*`: RDS instance identifiers (inside the tenant pattern `<prefix>-*`). */
  instance: string;
  /** `<prefix>/hosts/*\/master`, `<prefix>/hosts/*\/pool-app`: secret names. */
  masterSecret: string;
  poolAppSecret: string;
  /** `<prefix>-host-*-*`: CloudWatch alarm names (`<prefix>-host-<name>-<metric>`). */
  alarm: string;
}

/** libs/core's host names for a sample host name, that name replaced by `*`. */
export function hostResourcePatterns(prefix: string): HostResourcePatterns {
  const sample = 'pool-sample-000';
  const names = hostResourceNames(prefix, sample);
  const pattern = (name: string) => {
    if (!name.includes(sample)) throw new Error(`host resource name ${name} does not name the host`);
    return name.replace(sample, '*');
  };
  return {
    instance: pattern(names.instanceIdentifier),
    masterSecret: pattern(names.masterSecretName),
    poolAppSecret: pattern(names.poolAppSecretName),
    alarm: pattern(names.alarmName('*')),
  };
}

/**
 * The key prefix of tenant exports in TENANT_EXPORT_BUCKET (libs/aws `tenantExportKey`:
 * `<prefix>/exports/<slug>/<timestamp>.<ext>`).
 */
export function tenantExportKeyPrefix(prefix: string): string {
  return `${prefix}/exports/`;
}

const sampleTags = tenantTags({ id: 'id', slug: 'slug', tier: 'tier' }, 'environment');

/** Tag keys the worker puts on every tenant resource (libs/core `tenantTags`). */
export const TENANT_TAG_KEYS: readonly string[] = Object.keys(sampleTags);

/** The tag a restored tenant instance carries besides the tenant's (libs/core RESTORED_FROM_TAG). */
export const RESTORED_FROM_TAG_KEY: string = RESTORED_FROM_TAG;

/** The tag that marks a resource as a tenant resource the worker may change or delete. */
export const MANAGED_BY_TAG_KEY = 'managed-by';
export const MANAGED_BY_TAG_VALUE: string = sampleTags[MANAGED_BY_TAG_KEY];

/** The tag key naming the owning tenant; every create must carry it. */
export const TENANT_ID_TAG_KEY = 'silo:tenant-id';

/** The tag key naming the environment (SILO_ENVIRONMENT) a tenant resource belongs to. */
export const ENVIRONMENT_TAG_KEY = 'silo:environment';

if (
  !MANAGED_BY_TAG_VALUE ||
  !TENANT_TAG_KEYS.includes(TENANT_ID_TAG_KEY) ||
  sampleTags[ENVIRONMENT_TAG_KEY] !== 'environment'
) {
  throw new Error(
    'libs/core tenantTags no longer sets managed-by, silo:tenant-id and silo:environment: update infra/',
  );
}

const sampleHostTags = hostTags(
  { id: 'id', name: 'pool-sample-000', placement: 'pool', tier: 'tier' },
  'environment',
);

/** Tag keys the worker puts on every shared host's resources (libs/core `hostTags`). */
export const HOST_TAG_KEYS: readonly string[] = Object.keys(sampleHostTags);

/** The tag key naming the owning host; every create of a host resource must carry it. */
export const HOST_ID_TAG_KEY = 'silo:host-id';

if (
  !HOST_TAG_KEYS.includes(HOST_ID_TAG_KEY) ||
  sampleHostTags[MANAGED_BY_TAG_KEY] !== MANAGED_BY_TAG_VALUE ||
  sampleHostTags[ENVIRONMENT_TAG_KEY] !== 'environment'
) {
  throw new Error(
    'libs/core hostTags no longer sets managed-by, silo:host-id and silo:environment: update infra/',
  );
}

/** Validates a SILO_ENVIRONMENT value with the configuration's own rule. */
export function assertSiloEnvironment(environment: string): string {
  const parsed = environmentSchema.shape.SILO_ENVIRONMENT.safeParse(environment);
  if (!parsed.success) {
    throw new Error(
      `environment ${JSON.stringify(environment)} is not a valid SILO_ENVIRONMENT: ${parsed.error.issues[0]?.message}`,
    );
  }
  return environment;
}

/** Validates a prefix with the same rule as SILO_RESOURCE_PREFIX. */
export function assertResourcePrefix(prefix: string): string {
  const parsed = environmentSchema.shape.SILO_RESOURCE_PREFIX.safeParse(prefix);
  if (!parsed.success) {
    throw new Error(
      `resource prefix ${JSON.stringify(prefix)} is not a valid SILO_RESOURCE_PREFIX: ${parsed.error.issues[0]?.message}`,
    );
  }
  return prefix;
}

/**
 * The queue-depth metrics each provisioning worker publishes (libs/aws `QueueMetrics`), which the
 * services stack scales the workers on. The worker policy allows PutMetricData in this namespace
 * only; a test compares these names with libs/aws.
 */
export const QUEUE_DEPTH_METRIC = {
  namespace: 'Silo',
  dimension: 'ResourcePrefix',
  backlog: 'ProvisioningQueueBacklog',
  active: 'ProvisioningQueueActive',
  delayed: 'ProvisioningQueueDelayed',
} as const;

/** Names in the services stack. Log groups sit under `/silo/`, whatever the prefix. */
export function serviceNames(prefix: string) {
  return {
    cluster: `${prefix}-control-plane`,
    apiFamily: `${prefix}-api`,
    workerFamily: `${prefix}-worker`,
    migrateFamily: `${prefix}-migrate`,
    apiLogGroup: `/silo/${prefix}/api`,
    workerLogGroup: `/silo/${prefix}/worker`,
    migrateLogGroup: `/silo/${prefix}/migrate`,
  };
}
