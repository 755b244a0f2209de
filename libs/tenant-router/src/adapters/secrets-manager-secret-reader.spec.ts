import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { SecretsManagerClients, SecretsManagerSecretReader } from './secrets-manager-secret-reader';

const secretsManager = mockClient(SecretsManagerClient);

beforeEach(() => {
  secretsManager.reset();
  secretsManager
    .on(GetSecretValueCommand)
    .resolves({ SecretString: JSON.stringify({ username: 'silo_acme_app' }) });
});

/** Clients made through the real SDK class (mocked), recording each one's region and destroy(). */
function regional() {
  const made: { region: string | undefined; destroyed: boolean }[] = [];
  const clients = new SecretsManagerClients({ region: 'us-east-1', maxAttempts: 2 }, (config) => {
    const client = new SecretsManagerClient(config);
    const record = { region: config.region as string | undefined, destroyed: false };
    made.push(record);
    return {
      send: (command: GetSecretValueCommand) => client.send(command),
      destroy: () => {
        record.destroyed = true;
        client.destroy();
      },
    };
  });
  return { clients, made, reader: new SecretsManagerSecretReader(clients) };
}

describe('SecretsManagerSecretReader by region', () => {
  it('reads a secret in the region asked for, with one client per region made on first use', async () => {
    const { made, reader } = regional();
    expect(made).toHaveLength(0);
    await reader.inRegion('eu-central-1').read('silo/acme/app');
    await reader.inRegion('eu-central-1').read('silo/beta/app');
    await reader.inRegion('us-east-1').read('silo/gamma/app');
    await reader.read('silo/control-plane/data-plane');
    expect(made.map((m) => m.region)).toEqual(['eu-central-1', 'us-east-1']);
    expect(secretsManager).toHaveReceivedCommandTimes(GetSecretValueCommand, 4);
    expect(secretsManager).toHaveReceivedNthCommandWith(1, GetSecretValueCommand, {
      SecretId: 'silo/acme/app',
      VersionStage: 'AWSCURRENT',
    });
  });

  it('destroys every client it made, and makes none after that', async () => {
    const { clients, made, reader } = regional();
    await reader.inRegion('eu-central-1').read('silo/acme/app');
    await reader.read('silo/beta/app');
    clients.destroy();
    expect(made.map((m) => m.destroyed)).toEqual([true, true]);
    await expect(reader.inRegion('eu-west-1').read('silo/acme/app')).rejects.toThrow(/destroyed/);
    expect(made).toHaveLength(2);
  });

  it('reads with one given client whatever the region, for an app of one region', async () => {
    const client = new SecretsManagerClient({ region: 'eu-west-1' });
    const reader = new SecretsManagerSecretReader(client);
    await expect(reader.read('silo/acme/app')).resolves.toEqual({ username: 'silo_acme_app' });
    expect(reader.inRegion('eu-central-1')).toBe(reader);
    expect(secretsManager).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
    client.destroy();
  });
});
