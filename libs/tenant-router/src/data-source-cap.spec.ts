import { DataSourceCap } from './data-source-cap';

const settle = () => new Promise((resolve) => setImmediate(resolve));

function cap(maxDataSources: number, evictable = 0) {
  let evicted = 0;
  // Evicted DataSources are about to close until destroyed() says they are gone.
  let freeing = 0;
  const c = new DataSourceCap(
    maxDataSources,
    () => {
      if (evictable === 0) return false;
      evictable--;
      evicted++;
      freeing++;
      return true;
    },
    () => freeing,
  );
  const destroyed = () => {
    freeing--;
    c.release();
  };
  return { c, evicted: () => evicted, destroyed };
}

const timeout = () => new Error('no room');

describe('DataSourceCap', () => {
  it('reserves at once while the cap holds', async () => {
    const { c } = cap(2);
    await c.reserve(1_000, timeout);
    await c.reserve(1_000, timeout);
    expect({ dataSources: c.dataSources, waiting: c.waiting }).toEqual({ dataSources: 2, waiting: 0 });
  });

  it('evicts only as much as the first waiter needs and gives the place only once the DataSource is gone', async () => {
    const { c, evicted, destroyed } = cap(2, 2);
    await c.reserve(1_000, timeout);
    await c.reserve(1_000, timeout);
    let served = false;
    const waiting = c.reserve(1_000, timeout).then(() => (served = true));
    await settle();
    expect(evicted()).toBe(1);
    expect(served).toBe(false);
    destroyed();
    await waiting;
    expect(c.dataSources).toBe(2);
  });

  it('serves in arrival order, and times a waiter out without losing the ones behind it', async () => {
    const { c } = cap(1);
    await c.reserve(1_000, timeout);
    const order: string[] = [];
    const first = c.reserve(20, timeout).catch((e: Error) => order.push(`first: ${e.message}`));
    const second = c.reserve(1_000, timeout).then(() => order.push('second'));
    await first;
    c.release();
    await second;
    expect(order).toEqual(['first: no room', 'second']);
    expect({ dataSources: c.dataSources, waiting: c.waiting }).toEqual({ dataSources: 1, waiting: 0 });
  });
});
