import { DescribeDBEngineVersionsCommand, RDSClient } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsClients } from './aws-clients';
import { RdsEngineVersions } from './rds-engine-versions.adapter';
import { awsError } from './testing/fake-aws';
import { offlineConfig } from './testing/offline-config';

const rds = mockClient(RDSClient);
const config = offlineConfig();
beforeEach(() => rds.reset());

describe('RdsEngineVersions', () => {
  const clients = new AwsClients(config);
  afterAll(() => clients.onApplicationShutdown());

  it("resolves a major to RDS's default minor of it, and asks once an hour", async () => {
    const versions = new RdsEngineVersions(clients, config);
    let now = 0;
    versions.now = () => now;
    rds.on(DescribeDBEngineVersionsCommand).resolves({
      DBEngineVersions: [{ Engine: 'postgres', EngineVersion: '17.6', Status: 'available' }],
    });
    expect(await versions.status('17')).toEqual({ version: '17', status: 'available', resolved: '17.6' });
    expect(await versions.status('17')).toMatchObject({ resolved: '17.6' });
    expect(rds.commandCalls(DescribeDBEngineVersionsCommand).map((c) => c.args[0].input)).toEqual([
      { Engine: 'postgres', EngineVersion: '17', DefaultOnly: true, Marker: undefined },
    ]);
    now = 60 * 60 * 1000 + 1;
    await versions.status('17');
    expect(rds.commandCalls(DescribeDBEngineVersionsCommand)).toHaveLength(2);
  });

  it('says when a minor is deprecated, available, or not offered at all (deprecated ones asked for too)', async () => {
    const versions = new RdsEngineVersions(clients, config);
    rds
      .on(DescribeDBEngineVersionsCommand, { EngineVersion: '16.4' })
      .resolves({ DBEngineVersions: [{ EngineVersion: '16.4', Status: 'deprecated' }] })
      .on(DescribeDBEngineVersionsCommand, { EngineVersion: '17.2' })
      .resolves({ DBEngineVersions: [{ EngineVersion: '17.2', Status: 'available' }] })
      .on(DescribeDBEngineVersionsCommand, { EngineVersion: '12.22' })
      .resolves({ DBEngineVersions: [] })
      .on(DescribeDBEngineVersionsCommand, { EngineVersion: '11' })
      .resolves({ DBEngineVersions: [] });
    expect(await versions.status('16.4')).toEqual({ version: '16.4', status: 'deprecated' });
    expect(await versions.status('17.2')).toEqual({ version: '17.2', status: 'available', resolved: '17.2' });
    expect(await versions.status('12.22')).toEqual({ version: '12.22', status: 'unoffered' });
    expect(await versions.status('11')).toEqual({ version: '11', status: 'unoffered' });
    expect(rds.commandCalls(DescribeDBEngineVersionsCommand)[0].args[0].input).toMatchObject({
      EngineVersion: '16.4',
      IncludeAll: true,
    });
  });

  it('reads every page, answers unknown where the emulator does not implement the call, and does not keep a failure', async () => {
    const versions = new RdsEngineVersions(clients, config);
    rds
      .on(DescribeDBEngineVersionsCommand, { EngineVersion: '17.2', Marker: undefined })
      .resolves({ DBEngineVersions: [{ EngineVersion: '17.1', Status: 'available' }], Marker: 'm' })
      .on(DescribeDBEngineVersionsCommand, { EngineVersion: '17.2', Marker: 'm' })
      .resolves({ DBEngineVersions: [{ EngineVersion: '17.2', Status: 'available' }] });
    expect(await versions.status('17.2')).toMatchObject({ status: 'available' });

    rds
      .on(DescribeDBEngineVersionsCommand, { EngineVersion: '17' })
      .rejects(
        awsError('InternalFailure', 500, 'The describe_db_engine_versions action has not been implemented'),
      );
    expect(await versions.status('17')).toEqual({ version: '17', status: 'unknown' });

    rds
      .on(DescribeDBEngineVersionsCommand, { EngineVersion: '18' })
      .rejectsOnce(awsError('AccessDenied', 403, 'no'));
    await expect(versions.status('18')).rejects.toThrow(/AccessDenied/);
    rds.on(DescribeDBEngineVersionsCommand, { EngineVersion: '18' }).resolves({ DBEngineVersions: [] });
    expect(await versions.status('18')).toMatchObject({ status: 'unoffered' });
  });

  it('does not ask with the emulator, which does not implement the call: unknown', async () => {
    const emulated = Object.create(config, {
      aws: { value: { ...config.aws, emulator: true } },
    }) as typeof config;
    const versions = new RdsEngineVersions(clients, emulated);
    expect(await versions.status('17')).toEqual({ version: '17', status: 'unknown' });
    expect(rds.commandCalls(DescribeDBEngineVersionsCommand)).toHaveLength(0);
  });
});
