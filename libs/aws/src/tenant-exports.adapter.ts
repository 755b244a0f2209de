import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  NotFound,
  PutObjectCommand,
  UploadPartCommand,
  type BucketLocationConstraint,
  type CompletedPart,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Inject, Injectable } from '@nestjs/common';
import { SiloConfig } from '@silo/config';
import { ProvisioningError, ProvisioningErrorCode, TENANT_SLUG_PATTERN, utcStamp } from '@silo/core';
import { Readable } from 'node:stream';
import { awsCall, toProvisioningError } from './aws-error-classification';
import { AwsClients, regionalAdapter, type AwsClientSet } from './aws-clients';
import type { Tags } from './aws-tags';

/** What an export holds: a schema tenant's pg_dump (custom or plain) or a pooled tenant's rows. */
export type TenantExportKind = 'schema-dump' | 'schema-sql' | 'rows';

const EXTENSIONS: Record<TenantExportKind, string> = {
  'schema-dump': 'dump',
  'schema-sql': 'sql',
  rows: 'ndjson',
};
const CONTENT_TYPES: Record<TenantExportKind, string> = {
  'schema-dump': 'application/octet-stream',
  'schema-sql': 'application/sql',
  rows: 'application/x-ndjson',
};

/** The tag that says until when an export is kept on purpose (a date, YYYY-MM-DD, UTC). */
export const RETAIN_UNTIL_TAG = 'silo:retain-until';
/** Parts of a multipart upload: the most one export holds in memory. S3's minimum is 5 MiB. */
export const EXPORT_PART_BYTES = 8 * 1024 * 1024;

/**
 * The object key of a tenant's export: `<prefix>/exports/<slug>/<timestamp>.<ext>`, the
 * timestamp in UTC to the second as in a final snapshot's name (`20260102-030405`), `ext`
 * `dump`, `sql` or `ndjson` after its kind.
 */
export function tenantExportKey(prefix: string, slug: string, kind: TenantExportKind, at: Date): string {
  if (!TENANT_SLUG_PATTERN.test(slug)) throw new Error(`${JSON.stringify(slug)} is not a tenant slug`);
  return `${prefix}/exports/${slug}/${utcStamp(at)}.${EXTENSIONS[kind]}`;
}

/** How an export is stored. */
export interface TenantExportOptions {
  kind: TenantExportKind;
  /** SSE-KMS with this key (id, ARN or alias); unset: SSE-S3 (AES256). Never unencrypted. */
  kmsKeyId?: string;
  /** The tenant's tags (tenantTags in @silo/core). */
  tags: Tags;
  /** Kept on purpose until then: the {@link RETAIN_UNTIL_TAG} tag, and Object Lock with `objectLock`. */
  retainUntil?: Date;
  /**
   * Also an Object Lock retention until `retainUntil` in this mode (the bucket must have Object
   * Lock enabled; GOVERNANCE can be lifted with s3:BypassGovernanceRetention, COMPLIANCE cannot).
   * Default: none, the tag only.
   */
  objectLock?: 'GOVERNANCE' | 'COMPLIANCE';
}

/** A stored export. */
export interface StoredTenantExport {
  bucket: string;
  key: string;
  bytes: number;
  /** Set where the bucket keeps versions (always with Object Lock): what {@link TenantExports.delete} takes. */
  versionId?: string;
  encryption: ServerSideEncryption;
}

/**
 * Deleted tenants' exports in S3 (TENANT_EXPORT_BUCKET): each object encrypted (SSE-KMS with
 * the tenant key, else SSE-S3), tagged as the tenant's resources are, with its retention, and
 * uploaded from a stream in parts so that a large export is never held in memory. With the
 * emulator the bucket is made on first use; against AWS it is infrastructure's (never created here).
 */
@Injectable()
export class TenantExports {
  private readonly bucket?: string;
  private readonly emulator: boolean;
  private bucketReady?: Promise<void>;
  private readonly regions = new Map<string, TenantExports>();

  constructor(
    @Inject(AwsClients) private readonly aws: AwsClientSet,
    private readonly config: SiloConfig,
  ) {
    // The bucket of the region the exports are made in: an export never leaves its tenant's region.
    this.bucket = config.region(aws.region).exportBucket;
    this.emulator = config.aws.emulator;
  }

  /** The region this adapter exports to. */
  get region(): string {
    return this.aws.region;
  }

  /** The same adapter in `region`: that region's S3 client and export bucket. */
  inRegion(region: string): TenantExports {
    return regionalAdapter(
      this,
      this.aws.region,
      this.regions,
      region,
      () => new TenantExports(this.aws.forRegion(region), this.config),
    );
  }

  /**
   * Uploads `body` to `key`: one PutObject when it fits in one part, a multipart upload
   * otherwise (aborted when anything fails, so no parts are left billed). A failure of the body
   * stream fails the upload with its own error. The stored encryption is checked: an object S3
   * reports with any other encryption than asked for is deleted and refused.
   */
  async put(key: string, body: Readable, options: TenantExportOptions): Promise<StoredTenantExport> {
    const bucket = await this.readyBucket();
    if (options.objectLock && !options.retainUntil)
      throw new Error('an Object Lock retention needs retainUntil');
    const encryption: ServerSideEncryption = options.kmsKeyId ? 'aws:kms' : 'AES256';
    const tags: Record<string, string> = { ...options.tags };
    if (options.retainUntil) tags[RETAIN_UNTIL_TAG] = options.retainUntil.toISOString().slice(0, 10);
    const common = {
      Bucket: bucket,
      Key: key,
      ContentType: CONTENT_TYPES[options.kind],
      ServerSideEncryption: encryption,
      SSEKMSKeyId: options.kmsKeyId,
      Tagging: new URLSearchParams(tags).toString(),
      ObjectLockMode: options.objectLock,
      ObjectLockRetainUntilDate: options.objectLock ? options.retainUntil : undefined,
    };

    const parts = inParts(body, EXPORT_PART_BYTES);
    const first = await parts.next();
    const firstPart = first.done ? Buffer.alloc(0) : first.value;
    const second = first.done ? first : await parts.next();
    let stored: { versionId?: string; encryption?: string; bytes: number };
    if (second.done) {
      const out = await awsCall('PutObject', () =>
        this.aws.s3.send(
          new PutObjectCommand({ ...common, Body: firstPart, ContentLength: firstPart.length }),
        ),
      );
      stored = { versionId: out.VersionId, encryption: out.ServerSideEncryption, bytes: firstPart.length };
    } else {
      stored = await this.multipart(common, [firstPart, second.value], parts);
    }
    if (stored.encryption !== encryption) {
      await this.delete(key, { versionId: stored.versionId }).catch(() => undefined);
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `S3 stored ${key} with encryption ${stored.encryption ?? 'none'}, not ${encryption}: the object was deleted`,
      );
    }
    return { bucket, key, bytes: stored.bytes, versionId: stored.versionId, encryption };
  }

  /**
   * Deletes an export (compensation). Idempotent: a missing object is done. With a `versionId`
   * that version goes; without one a versioned bucket only gets a delete marker.
   */
  async delete(key: string, options: { versionId?: string } = {}): Promise<void> {
    const bucket = await this.readyBucket();
    await awsCall('DeleteObject', () =>
      this.aws.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: options.versionId })),
    );
  }

  /**
   * The export at `key` (in `bucket`, default this region's export bucket): its size and tags, or
   * null when S3 has no such object (deleted since, or past its lifecycle).
   */
  async describe(
    key: string,
    bucket?: string,
  ): Promise<{ bucket: string; key: string; bytes: number; tags: Record<string, string> } | null> {
    const Bucket = bucket ?? (await this.readyBucket());
    let bytes: number;
    try {
      const head = await this.aws.s3.send(new HeadObjectCommand({ Bucket, Key: key }));
      bytes = head.ContentLength ?? 0;
    } catch (error) {
      if (error instanceof NotFound || (error as { name?: string }).name === 'NotFound') return null;
      throw toProvisioningError(error, 'HeadObject');
    }
    const tagging = await awsCall('GetObjectTagging', () =>
      this.aws.s3.send(new GetObjectTaggingCommand({ Bucket, Key: key })),
    );
    const tags = Object.fromEntries((tagging.TagSet ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
    return { bucket: Bucket, key, bytes, tags };
  }

  /** The export's bytes as S3 streams them (nothing held in memory). */
  async read(key: string, bucket?: string): Promise<Readable> {
    const Bucket = bucket ?? (await this.readyBucket());
    const out = await awsCall('GetObject', () =>
      this.aws.s3.send(new GetObjectCommand({ Bucket, Key: key })),
    );
    if (!(out.Body instanceof Readable))
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `GetObject of ${key} answered no stream`,
      );
    return out.Body;
  }

  private async multipart(
    common: Omit<ConstructorParameters<typeof CreateMultipartUploadCommand>[0], 'Body'>,
    firstParts: Buffer[],
    rest: AsyncGenerator<Buffer>,
  ): Promise<{ versionId?: string; encryption?: string; bytes: number }> {
    const created = await awsCall('CreateMultipartUpload', () =>
      this.aws.s3.send(new CreateMultipartUploadCommand({ ...common, ChecksumAlgorithm: 'CRC32' })),
    );
    const uploadId = created.UploadId;
    if (!uploadId)
      throw new ProvisioningError(
        ProvisioningErrorCode.INCONSISTENT_STATE,
        `CreateMultipartUpload of ${common.Key} returned no upload id`,
      );
    const target = { Bucket: common.Bucket, Key: common.Key, UploadId: uploadId };
    const completed: CompletedPart[] = [];
    let bytes = 0;
    try {
      const upload = async (part: Buffer) => {
        const PartNumber = completed.length + 1;
        const out = await awsCall('UploadPart', () =>
          this.aws.s3.send(
            new UploadPartCommand({
              ...target,
              PartNumber,
              Body: part,
              ContentLength: part.length,
              ChecksumAlgorithm: 'CRC32',
            }),
          ),
        );
        completed.push({ PartNumber, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32 });
        bytes += part.length;
      };
      for (const part of firstParts) await upload(part);
      for await (const part of rest) await upload(part);
      const done = await awsCall('CompleteMultipartUpload', () =>
        this.aws.s3.send(
          new CompleteMultipartUploadCommand({ ...target, MultipartUpload: { Parts: completed } }),
        ),
      );
      return { versionId: done.VersionId, encryption: done.ServerSideEncryption, bytes };
    } catch (error) {
      await this.aws.s3.send(new AbortMultipartUploadCommand(target)).catch(() => undefined);
      throw error;
    }
  }

  private readyBucket(): Promise<string> {
    const bucket = this.bucket;
    if (!bucket)
      return Promise.reject(
        new ProvisioningError(
          ProvisioningErrorCode.AWS_REJECTED,
          'TENANT_EXPORT_BUCKET is not set: a schema or pool tenant cannot be deleted without a bucket for its export',
        ),
      );
    if (!this.emulator) return Promise.resolve(bucket);
    this.bucketReady ??= this.createInEmulator(bucket).catch((error: unknown) => {
      this.bucketReady = undefined;
      throw error;
    });
    return this.bucketReady.then(() => bucket);
  }

  private async createInEmulator(bucket: string): Promise<void> {
    try {
      await this.aws.s3.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch (error) {
      if (!(error instanceof NotFound) && (error as { name?: string }).name !== 'NotFound')
        throw toProvisioningError(error, 'HeadBucket');
      // Outside us-east-1 S3 wants the region named, else it refuses (or, once, made it in us-east-1).
      const location =
        this.aws.region === 'us-east-1'
          ? undefined
          : { LocationConstraint: this.aws.region as BucketLocationConstraint };
      await awsCall('CreateBucket', () =>
        this.aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: location })),
      );
    }
  }
}

/** `body` in buffers of `size` bytes (the last shorter). A failing body fails the iteration. */
async function* inParts(body: Readable, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    let data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    while (length + data.length >= size) {
      const take = size - length;
      pending.push(data.subarray(0, take));
      yield Buffer.concat(pending);
      data = data.subarray(take);
      pending = [];
      length = 0;
    }
    if (data.length > 0) {
      pending.push(data);
      length += data.length;
    }
  }
  if (length > 0) yield Buffer.concat(pending);
}
