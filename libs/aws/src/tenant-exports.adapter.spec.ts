import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadBucketCommand,
  NotFound,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { loadConfig } from '@silo/config';
import { ProvisioningError, ProvisioningErrorCode, tenantTags } from '@silo/core';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { Readable } from 'node:stream';
import { AwsClients } from './aws-clients';
import { EXPORT_PART_BYTES, tenantExportKey, TenantExports } from './tenant-exports.adapter';
import { awsError } from './testing/fake-aws';

const s3 = mockClient(S3Client);
beforeEach(() => s3.reset());

function exportsWith(env: Record<string, string> = {}) {
  const config = loadConfig({
    envFile: false,
    env: {
      DATABASE_URL: 'postgres://unused@127.0.0.1/unused',
      REDIS_URL: 'redis://127.0.0.1:6379',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      ALARM_ACTIONS: 'none',
      SILO_ENVIRONMENT: 'test',
      TENANT_EXPORT_BUCKET: 'acme-silo-exports',
      ...env,
    },
  });
  const clients = new AwsClients(config);
  return { exports: new TenantExports(clients, config), clients };
}

const tenant = { id: '7d0b8a8e-3a5c-4c11-9a5e-0b7c3c1c2f10', slug: 'acme-corp', tier: 'starter' };
const tags = tenantTags(tenant, 'prod');
const key = 'silo/exports/acme-corp/20260102-030405.ndjson';
const KEY_ARN = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

async function failure(promise: Promise<unknown>): Promise<ProvisioningError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ProvisioningError))
    throw new Error(`expected a ProvisioningError, got ${String(error)}`);
  return error;
}

describe('tenantExportKey', () => {
  it('puts a tenant export under <prefix>/exports/<slug>/ named by its UTC time and kind', () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    expect(tenantExportKey('silo', 'acme-corp', 'rows', at)).toBe(key);
    expect(tenantExportKey('prod', 'acme-corp', 'schema-dump', at)).toBe(
      'prod/exports/acme-corp/20260102-030405.dump',
    );
    expect(tenantExportKey('silo', 'acme-corp', 'schema-sql', at)).toBe(
      'silo/exports/acme-corp/20260102-030405.sql',
    );
    expect(() => tenantExportKey('silo', '../etc', 'rows', at)).toThrow(/not a tenant slug/);
  });
});

describe('TenantExports.put', () => {
  it('stores a small export with one PutObject: SSE-KMS with the tenant key, the tenant tags and its retention tag', async () => {
    const { exports, clients } = exportsWith();
    s3.on(PutObjectCommand).resolves({ ServerSideEncryption: 'aws:kms', VersionId: 'v1' });
    const stored = await exports.put(
      key,
      Readable.from([Buffer.from('{"a":1}\n'), Buffer.from('{"b":2}\n')]),
      {
        kind: 'rows',
        kmsKeyId: KEY_ARN,
        tags,
        retainUntil: new Date('2026-02-06T03:04:05Z'),
      },
    );
    expect(stored).toEqual({
      bucket: 'acme-silo-exports',
      key,
      bytes: 16,
      versionId: 'v1',
      encryption: 'aws:kms',
    });
    expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 1);
    const input = s3.commandCalls(PutObjectCommand)[0].args[0].input;
    expect({ ...input, Body: (input.Body as Buffer).toString() }).toEqual({
      Bucket: 'acme-silo-exports',
      Key: key,
      Body: '{"a":1}\n{"b":2}\n',
      ContentLength: 16,
      ContentType: 'application/x-ndjson',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: KEY_ARN,
      Tagging:
        'silo%3Atenant-id=7d0b8a8e-3a5c-4c11-9a5e-0b7c3c1c2f10&silo%3Atenant-slug=acme-corp&silo%3Atier=starter' +
        '&silo%3Aenvironment=prod&managed-by=silo&silo%3Aretain-until=2026-02-06',
    });
    expect(s3).not.toHaveReceivedCommand(CreateBucketCommand);
    expect(s3).not.toHaveReceivedCommand(HeadBucketCommand);
    clients.onApplicationShutdown();
  });

  it('uses SSE-S3 without a KMS key, never no encryption', async () => {
    const { exports } = exportsWith();
    s3.on(PutObjectCommand).resolves({ ServerSideEncryption: 'AES256' });
    await exports.put(key, Readable.from([Buffer.from('x')]), { kind: 'rows', tags });
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      ServerSideEncryption: 'AES256',
      SSEKMSKeyId: undefined,
    });
  });

  it('deletes and refuses an object S3 reports stored unencrypted', async () => {
    const { exports } = exportsWith();
    s3.on(PutObjectCommand).resolves({ VersionId: 'v9' });
    s3.on(DeleteObjectCommand).resolves({});
    const error = await failure(exports.put(key, Readable.from([Buffer.from('x')]), { kind: 'rows', tags }));
    expect(error.code).toBe(ProvisioningErrorCode.INCONSISTENT_STATE);
    expect(error.message).toMatch(/encryption none, not AES256: the object was deleted/);
    expect(s3).toHaveReceivedCommandWith(DeleteObjectCommand, {
      Bucket: 'acme-silo-exports',
      Key: key,
      VersionId: 'v9',
    });
  });

  it('asks for an Object Lock retention until retainUntil when told to', async () => {
    const { exports } = exportsWith();
    s3.on(PutObjectCommand).resolves({ ServerSideEncryption: 'AES256' });
    const retainUntil = new Date('2026-02-06T03:04:05Z');
    await exports.put(key, Readable.from([Buffer.from('x')]), {
      kind: 'schema-dump',
      tags,
      retainUntil,
      objectLock: 'GOVERNANCE',
    });
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      ContentType: 'application/octet-stream',
      ObjectLockMode: 'GOVERNANCE',
      ObjectLockRetainUntilDate: retainUntil,
    });
    await expect(
      exports.put(key, Readable.from([]), { kind: 'rows', tags, objectLock: 'COMPLIANCE' }),
    ).rejects.toThrow(/needs retainUntil/);
  });

  it('uploads a stream larger than a part in parts, each of the part size but the last', async () => {
    const { exports } = exportsWith();
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-1' });
    s3.on(UploadPartCommand).callsFake((input: { PartNumber: number }) => ({
      ETag: `"etag-${input.PartNumber}"`,
      ChecksumCRC32: `crc-${input.PartNumber}`,
    }));
    s3.on(CompleteMultipartUploadCommand).resolves({ ServerSideEncryption: 'aws:kms', VersionId: 'v2' });
    // Chunks that do not line up with the parts.
    const chunk = Buffer.alloc(3 * 1024 * 1024, 7);
    const body = Readable.from(Array.from({ length: 6 }, () => chunk));
    const stored = await exports.put(key, body, { kind: 'rows', kmsKeyId: KEY_ARN, tags });

    expect(stored.bytes).toBe(18 * 1024 * 1024);
    expect(s3).toHaveReceivedCommandWith(CreateMultipartUploadCommand, {
      Bucket: 'acme-silo-exports',
      Key: key,
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: KEY_ARN,
      ChecksumAlgorithm: 'CRC32',
      Tagging: expect.stringContaining('silo%3Atenant-slug=acme-corp') as string,
    });
    const parts = s3.commandCalls(UploadPartCommand).map((c) => c.args[0].input);
    expect(parts.map((p) => [p.PartNumber, p.ContentLength, p.UploadId])).toEqual([
      [1, EXPORT_PART_BYTES, 'up-1'],
      [2, EXPORT_PART_BYTES, 'up-1'],
      [3, 2 * 1024 * 1024, 'up-1'],
    ]);
    expect(s3).toHaveReceivedCommandWith(CompleteMultipartUploadCommand, {
      UploadId: 'up-1',
      MultipartUpload: {
        Parts: [1, 2, 3].map((n) => ({ PartNumber: n, ETag: `"etag-${n}"`, ChecksumCRC32: `crc-${n}` })),
      },
    });
    expect(s3).not.toHaveReceivedCommand(PutObjectCommand);
    expect(s3).not.toHaveReceivedCommand(AbortMultipartUploadCommand);
  });

  it('aborts the multipart upload when the body fails, with the body’s error', async () => {
    const { exports } = exportsWith();
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-2' });
    s3.on(UploadPartCommand).resolves({ ETag: '"e"' });
    s3.on(AbortMultipartUploadCommand).resolves({});
    async function* failing(bytes: number) {
      yield await Promise.resolve(Buffer.alloc(bytes));
      throw new Error('pg_dump of schema silo_acme failed (exit 1)');
    }
    // Failing within the first two parts: nothing was sent yet.
    await expect(
      exports.put(key, Readable.from(failing(EXPORT_PART_BYTES + 1)), { kind: 'schema-dump', tags }),
    ).rejects.toThrow('pg_dump of schema silo_acme failed (exit 1)');
    expect(s3.calls()).toHaveLength(0);

    await expect(
      exports.put(key, Readable.from(failing(2 * EXPORT_PART_BYTES + 1)), { kind: 'schema-dump', tags }),
    ).rejects.toThrow('pg_dump of schema silo_acme failed (exit 1)');
    expect(s3).toHaveReceivedCommandTimes(UploadPartCommand, 2);
    expect(s3).toHaveReceivedCommandWith(AbortMultipartUploadCommand, {
      Bucket: 'acme-silo-exports',
      Key: key,
      UploadId: 'up-2',
    });
    expect(s3).not.toHaveReceivedCommand(CompleteMultipartUploadCommand);
  });

  it('classifies S3 failures as the other adapters do: throttling retryable, a missing bucket permanent', async () => {
    const { exports } = exportsWith();
    s3.on(PutObjectCommand)
      .rejectsOnce(slowDown())
      .rejectsOnce(awsError('NoSuchBucket', 404, 'The specified bucket does not exist'));
    const throttled = await failure(
      exports.put(key, Readable.from([Buffer.from('x')]), { kind: 'rows', tags }),
    );
    expect(throttled.code).toBe(ProvisioningErrorCode.AWS_UNAVAILABLE);
    const missing = await failure(
      exports.put(key, Readable.from([Buffer.from('x')]), { kind: 'rows', tags }),
    );
    expect(missing.code).toBe(ProvisioningErrorCode.AWS_REJECTED);
    expect(missing.message).toBe('PutObject failed: NoSuchBucket: The specified bucket does not exist');
  });

  it('refuses to export without a bucket configured, naming the variable', async () => {
    const { exports } = exportsWith({ TENANT_EXPORT_BUCKET: '' });
    const error = await failure(exports.put(key, Readable.from([Buffer.from('x')]), { kind: 'rows', tags }));
    expect(error.message).toMatch(/^TENANT_EXPORT_BUCKET is not set/);
    expect(s3.calls()).toHaveLength(0);
  });

  it('with the emulator, makes <prefix>-exports on first use, once', async () => {
    const { exports } = exportsWith({
      TENANT_EXPORT_BUCKET: '',
      AWS_EMULATOR: 'true',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
      SILO_RESOURCE_PREFIX: 'dev',
    });
    s3.on(HeadBucketCommand).rejects(
      new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } }),
    );
    s3.on(CreateBucketCommand).resolves({});
    s3.on(PutObjectCommand).resolves({ ServerSideEncryption: 'AES256' });
    for (let i = 0; i < 2; i++)
      await exports.put(key, Readable.from([Buffer.from('x')]), { kind: 'rows', tags });
    expect(s3).toHaveReceivedCommandTimes(CreateBucketCommand, 1);
    expect(s3).toHaveReceivedCommandWith(CreateBucketCommand, { Bucket: 'dev-exports' });
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, { Bucket: 'dev-exports' });
  });
});

describe('TenantExports.delete', () => {
  it('deletes the given version of an export', async () => {
    const { exports } = exportsWith();
    s3.on(DeleteObjectCommand).resolves({});
    await exports.delete(key, { versionId: 'v3' });
    expect(s3).toHaveReceivedCommandWith(DeleteObjectCommand, {
      Bucket: 'acme-silo-exports',
      Key: key,
      VersionId: 'v3',
    });
  });
});

function slowDown(): Error {
  return awsError('SlowDown', 503, 'Please reduce your request rate.');
}
