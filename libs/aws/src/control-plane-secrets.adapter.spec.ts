import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { ProvisioningErrorCode } from '@silo/core';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsClients } from './aws-clients';
import { ControlPlaneSecrets } from './control-plane-secrets.adapter';
import { awsError } from './testing/fake-aws';
import { offlineConfig } from './testing/offline-config';

const NAME = 'silo/control-plane/data-plane';
const secretsManager = mockClient(SecretsManagerClient);
const clients = new AwsClients(offlineConfig());
const secrets = new ControlPlaneSecrets(clients);
beforeEach(() => secretsManager.reset());
afterAll(() => clients.onApplicationShutdown());

describe('ControlPlaneSecrets', () => {
  it('finds a secret with its tags and its AWSCURRENT value', async () => {
    secretsManager.on(DescribeSecretCommand).resolves({
      Name: NAME,
      Tags: [{ Key: 'silo:environment', Value: 'test' }],
    });
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: '{"username":"silo_data_plane"}' });
    await expect(secrets.find(NAME)).resolves.toEqual({
      tags: { 'silo:environment': 'test' },
      value: { username: 'silo_data_plane' },
    });
    expect(secretsManager).toHaveReceivedCommandWith(GetSecretValueCommand, {
      SecretId: NAME,
      VersionStage: 'AWSCURRENT',
    });
  });

  it('answers null for no secret, and a deletion date without reading one scheduled for deletion', async () => {
    secretsManager
      .on(DescribeSecretCommand)
      .rejectsOnce(new ResourceNotFoundException({ message: 'gone', $metadata: {} }));
    await expect(secrets.find(NAME)).resolves.toBeNull();
    const deletionDate = new Date('2030-01-02T03:04:05Z');
    secretsManager.on(DescribeSecretCommand).resolves({ Name: NAME, DeletedDate: deletionDate });
    await expect(secrets.find(NAME)).resolves.toEqual({ tags: {}, value: null, deletionDate });
    expect(secretsManager).not.toHaveReceivedCommand(GetSecretValueCommand);
  });

  it('creates a secret with its tags, key and description, and answers false when one of that name exists', async () => {
    secretsManager.on(CreateSecretCommand).resolvesOnce({ ARN: 'arn' });
    const options = {
      tags: { 'silo:component': 'control-plane', 'silo:environment': 'test' },
      kmsKeyId: 'alias/silo-tenants',
      description: 'the data plane login',
    };
    await expect(secrets.create(NAME, { username: 'u', password: 'p' }, options)).resolves.toBe(true);
    expect(secretsManager).toHaveReceivedCommandWith(CreateSecretCommand, {
      Name: NAME,
      SecretString: '{"username":"u","password":"p"}',
      KmsKeyId: 'alias/silo-tenants',
      Tags: [
        { Key: 'silo:component', Value: 'control-plane' },
        { Key: 'silo:environment', Value: 'test' },
      ],
      Description: 'the data plane login',
    });
    secretsManager
      .on(CreateSecretCommand)
      .rejects(new ResourceExistsException({ message: 'exists', $metadata: {} }));
    await expect(secrets.create(NAME, { password: 'p' }, options)).resolves.toBe(false);
  });

  it('classifies other failures, keeping AWS’s message', async () => {
    secretsManager.on(DescribeSecretCommand).rejects(awsError('AccessDeniedException', 400, 'not allowed'));
    await expect(secrets.find(NAME)).rejects.toMatchObject({
      code: ProvisioningErrorCode.AWS_REJECTED,
      message: expect.stringContaining('DescribeSecret failed: AccessDeniedException: not allowed'),
    });
  });

  it('writes a new version of the value', async () => {
    secretsManager.on(PutSecretValueCommand).resolves({});
    await secrets.write(NAME, { port: 5432 });
    expect(secretsManager).toHaveReceivedCommandWith(PutSecretValueCommand, {
      SecretId: NAME,
      SecretString: '{"port":5432}',
    });
  });
});
