import { ConnectionBudget } from './connection-budget';

const settle = () => new Promise((resolve) => setImmediate(resolve));

function budget(limits: { maxDataSources: number; connectionBudget: number }, evictable: number[] = []) {
  const evicted: number[] = [];
  // Evicted DataSources are about to close until destroyed() says they are gone.
  const freeing = { dataSources: 0, connections: 0 };
  const b = new ConnectionBudget(
    limits,
    () => {
      const next = evictable.shift();
      if (next === undefined) return false;
      evicted.push(next);
      freeing.dataSources++;
      freeing.connections += next;
      return true;
    },
    () => ({ ...freeing }),
  );
  const destroyed = (connections: number) => {
    freeing.dataSources--;
    freeing.connections -= connections;
    b.release(connections);
  };
  return { b, evicted, destroyed };
}

const timeout = () => new Error('no room');

describe('ConnectionBudget', () => {
  it('reserves at once while both limits hold', async () => {
    const { b } = budget({ maxDataSources: 3, connectionBudget: 5 });
    await b.reserve(2, 1_000, timeout);
    await b.reserve(3, 1_000, timeout);
    expect({ dataSources: b.dataSources, connections: b.connections, waiting: b.waiting }).toEqual({
      dataSources: 2,
      connections: 5,
      waiting: 0,
    });
  });

  it('evicts only as much as the first waiter needs and returns room only once the DataSource is gone', async () => {
    const { b, evicted, destroyed } = budget({ maxDataSources: 10, connectionBudget: 6 }, [2, 2, 2]);
    for (let i = 0; i < 3; i++) await b.reserve(2, 1_000, timeout);
    let served = false;
    const waiting = b.reserve(4, 1_000, timeout).then(() => (served = true));
    await settle();
    expect(evicted).toEqual([2, 2]);
    expect(served).toBe(false);
    expect(b.connections).toBe(6);

    destroyed(2);
    await settle();
    expect(served).toBe(false);
    destroyed(2);
    await waiting;
    expect(b.connections).toBe(6);
  });

  it('serves in arrival order: a small request does not overtake a large one', async () => {
    const { b } = budget({ maxDataSources: 10, connectionBudget: 4 });
    await b.reserve(3, 1_000, timeout);
    const order: string[] = [];
    const large = b.reserve(4, 1_000, timeout).then(() => order.push('large'));
    const small = b.reserve(1, 1_000, timeout).then(() => order.push('small'));
    await settle();
    expect(order).toEqual([]);
    b.release(3);
    await large;
    b.release(4);
    await small;
    expect(order).toEqual(['large', 'small']);
  });

  it('times a waiter out, then serves those behind it that fit', async () => {
    const { b } = budget({ maxDataSources: 10, connectionBudget: 4 });
    await b.reserve(3, 1_000, timeout);
    const large = b.reserve(4, 20, timeout);
    const small = b.reserve(1, 1_000, timeout);
    await expect(large).rejects.toThrow('no room');
    await small;
    expect({ connections: b.connections, waiting: b.waiting }).toEqual({ connections: 4, waiting: 0 });
  });
});
