import { AwsClients, RdsInstances, type InstanceView } from '../../aws/src';

/** What RDS is to report of the hosts' instances instead of moto's answer. */
export interface HeldInstances {
  /** `creating`, as RDS reports a new instance for minutes. */
  creating: boolean;
  /** `deleting`, as RDS reports an instance being deleted. */
  deleting: boolean;
  /** Statuses to report, one per describe, the last one for every describe after it (while set). */
  script: string[] | null;
}

/**
 * RDS as the worker sees it, with the shared hosts' instances (`<prefix>-host-…`) held where real
 * RDS keeps them for minutes and moto does not (it makes an instance available, and deletes it, at
 * once). Everything else is moto's answer. For
 * `Test.createTestingModule(…).overrideProvider(RdsInstances).useFactory(provider)`.
 */
export function heldHostInstances(prefix: string): {
  held: HeldInstances;
  provider: { factory: (clients: AwsClients) => RdsInstances; inject: [typeof AwsClients] };
} {
  const held: HeldInstances = { creating: false, deleting: false, script: null };
  class HeldRds extends RdsInstances {
    override async describe(identifier: string): Promise<InstanceView | null> {
      const view = await super.describe(identifier);
      if (!view || !identifier.startsWith(`${prefix}-host-`)) return view;
      if (held.script?.length) {
        const status = held.script.length > 1 ? held.script.shift()! : held.script[0];
        return { ...view, status };
      }
      if (held.creating) return { ...view, status: 'creating' };
      if (held.deleting) return { ...view, status: 'deleting' };
      return view;
    }
  }
  return { held, provider: { factory: (clients) => new HeldRds(clients), inject: [AwsClients] } };
}
