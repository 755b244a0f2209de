import { DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { loadConfig } from '@silo/config';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsClients } from './aws-clients';
import { RdsInstances } from './rds-instances.adapter';
import { TenantExports } from './tenant-exports.adapter';

const config = loadConfig({
  env: {
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/silo',
    REDIS_URL: 'redis://127.0.0.1:6379',
    AWS_REGION: 'eu-west-1',
    AWS_EMULATOR: 'true',
    AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
    SILO_REGIONS: 'eu-west-1,eu-central-1',
  },
  envFile: false,
});

describe('AwsClients per region', () => {
  it('makes a region’s clients on first use, once, and destroys them all on shutdown', async () => {
    const clients = new AwsClients(config);
    expect(clients.openRegions).toEqual([]);
    const central = clients.forRegion('eu-central-1');
    expect(clients.forRegion('eu-central-1')).toBe(central);
    expect(await central.rds.config.region()).toBe('eu-central-1');
    expect(await central.s3.config.region()).toBe('eu-central-1');
    expect(await clients.rds.config.region()).toBe('eu-west-1');
    expect(clients.openRegions).toEqual(['eu-central-1', 'eu-west-1']);
    const destroy = jest.spyOn(central.rds, 'destroy');
    clients.onApplicationShutdown();
    expect(destroy).toHaveBeenCalledTimes(1);
    expect(clients.openRegions).toEqual([]);
  });

  it('refuses a region that is not configured, naming the configured ones', () => {
    expect(() => new AwsClients(config).forRegion('us-east-1')).toThrow(
      'region us-east-1 is not configured (SILO_REGIONS: eu-west-1, eu-central-1)',
    );
  });

  it('sends an adapter’s calls in its region through that region’s client only', async () => {
    const rds = mockClient(RDSClient);
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [] });
    try {
      const clients = new AwsClients(config);
      const home = new RdsInstances(clients);
      const central = home.inRegion('eu-central-1');
      expect(home.inRegion('eu-central-1')).toBe(central);
      expect(home.inRegion('eu-west-1')).toBe(home);
      expect(central.region).toBe('eu-central-1');
      expect(central.inRegion('eu-west-1').region).toBe('eu-west-1');
      await central.describe('silo-acme');
      const [call] = rds.commandCalls(DescribeDBInstancesCommand);
      expect(call.thisValue).toBe(clients.forRegion('eu-central-1').rds);
      expect(call.thisValue).not.toBe(clients.rds);
    } finally {
      rds.restore();
    }
  });

  it('exports to the bucket of the region it is in', () => {
    const clients = new AwsClients(config);
    const home = new TenantExports(clients, config);
    expect(home.region).toBe('eu-west-1');
    expect(home.inRegion('eu-central-1').region).toBe('eu-central-1');
    expect((home as unknown as { bucket: string }).bucket).toBe('silo-exports');
    expect((home.inRegion('eu-central-1') as unknown as { bucket: string }).bucket).toBe(
      'silo-exports-eu-central-1',
    );
  });
});
