import { paginateDescribeDBInstances, type DBInstance, type RDSClient } from '@aws-sdk/client-rds';

/**
 * Every instance the emulator holds, page by page: DescribeDBInstances answers 100 at a time, and
 * the suites running beside a test leave more than that in a shared emulator.
 */
export async function allInstances(rds: RDSClient): Promise<DBInstance[]> {
  const all: DBInstance[] = [];
  for await (const page of paginateDescribeDBInstances({ client: rds }, {}))
    all.push(...(page.DBInstances ?? []));
  return all;
}
