import { balancedOrders } from '../../bench/router/workloads';

describe('bench/router balancedOrders', () => {
  it.each([2, 3, 4, 5, 6])('makes each of %i members follow each other equally often', (n) => {
    const orders = balancedOrders(n);
    expect(orders).toHaveLength(n % 2 === 0 ? n : 2 * n);
    const follows = new Map<string, number>();
    for (const order of orders) {
      expect([...order].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
      for (let k = 1; k < order.length; k++) {
        const pair = `${order[k - 1]}>${order[k]}`;
        follows.set(pair, (follows.get(pair) ?? 0) + 1);
      }
    }
    // Every ordered pair of two different members, the same number of times.
    expect(follows.size).toBe(n * (n - 1));
    expect(new Set(follows.values()).size).toBe(1);
  });

  it('does not keep the predecessor of a member fixed, as a rotation would', () => {
    const orders = balancedOrders(4);
    const beforeOne = new Set(orders.map((order) => order[order.indexOf(1) - 1]));
    expect(beforeOne).toEqual(new Set([undefined, 0, 2, 3]));
  });
});
