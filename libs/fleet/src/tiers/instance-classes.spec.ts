import { defaultMaxConnections, INSTANCE_CLASSES, instanceClass } from './instance-classes';

describe('instance class catalogue', () => {
  it('derives max_connections from memory as the RDS default parameter group does', () => {
    expect(instanceClass('db.t3.micro')?.maxConnections).toBe(112);
    expect(instanceClass('db.m6i.large')?.maxConnections).toBe(901);
    expect(instanceClass('db.r6i.xlarge')?.maxConnections).toBe(3604);
  });

  it('caps max_connections at 5000', () => {
    expect(defaultMaxConnections(64)).toBe(5000);
  });

  it('offers the documented classes with their memory', () => {
    const memory = Object.fromEntries(Object.values(INSTANCE_CLASSES).map((c) => [c.name, c.memoryGiB]));
    expect(memory).toEqual({
      'db.t3.micro': 1,
      'db.t3.small': 2,
      'db.t3.medium': 4,
      'db.t3.large': 8,
      'db.t4g.micro': 1,
      'db.t4g.small': 2,
      'db.t4g.medium': 4,
      'db.m6i.large': 8,
      'db.m6i.xlarge': 16,
      'db.m6i.2xlarge': 32,
      'db.r6i.large': 16,
      'db.r6i.xlarge': 32,
    });
  });

  it('allows Multi-AZ on every class except the micro ones', () => {
    const withoutMultiAz = Object.values(INSTANCE_CLASSES)
      .filter((c) => !c.multiAz)
      .map((c) => c.name);
    expect(withoutMultiAz).toEqual(['db.t3.micro', 'db.t4g.micro']);
  });

  it('keys every entry by its own name', () => {
    for (const [name, info] of Object.entries(INSTANCE_CLASSES)) expect(info.name).toBe(name);
  });

  it('knows nothing of unoffered classes or object prototype keys', () => {
    expect(instanceClass('db.x2g.16xlarge')).toBeUndefined();
    expect(instanceClass('toString')).toBeUndefined();
    expect(instanceClass('__proto__')).toBeUndefined();
  });
});
