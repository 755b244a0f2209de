import { ConnectionGate, ConnectSlots } from './connection-gate';

const settle = () => new Promise((resolve) => setImmediate(resolve));
const timeout = () => new Error('no place');

describe('ConnectionGate', () => {
  it('lets connections in while under the budget, then queues them in arrival order', async () => {
    const gate = new ConnectionGate(2, () => false);
    await gate.enter(1_000, timeout);
    await gate.enter(1_000, timeout);
    const order: string[] = [];
    const third = gate.enter(1_000, timeout).then(() => order.push('third'));
    const fourth = gate.enter(1_000, timeout).then(() => order.push('fourth'));
    await settle();
    expect({ live: gate.live, waiting: gate.waiting, order }).toEqual({ live: 2, waiting: 2, order: [] });
    gate.leave();
    await third;
    gate.leave();
    await fourth;
    expect({ live: gate.live, peak: gate.peak, waited: gate.waited, order }).toEqual({
      live: 2,
      peak: 2,
      waited: 2,
      order: ['third', 'fourth'],
    });
  });

  it('asks for one idle connection to be closed per waiter, and the place follows its end', async () => {
    let idle = 3;
    let closing = 0;
    const gate = new ConnectionGate(3, () => {
      if (idle === 0) return false;
      idle--;
      closing++;
      return true;
    });
    for (let i = 0; i < 3; i++) await gate.enter(1_000, timeout);
    const waiters = [gate.enter(1_000, timeout), gate.enter(1_000, timeout)];
    await settle();
    expect({ closing, idle }).toEqual({ closing: 2, idle: 1 });
    // The closed connections end: their places go to the waiters, never above the budget.
    gate.leave();
    gate.leave();
    await Promise.all(waiters);
    expect({ live: gate.live, peak: gate.peak }).toEqual({ live: 3, peak: 3 });
  });

  it('fails a waiter after its timeout and lets the next one in when a place frees', async () => {
    const gate = new ConnectionGate(1, () => false);
    await gate.enter(1_000, timeout);
    const first = gate.enter(20, timeout);
    const second = gate.enter(1_000, timeout);
    await expect(first).rejects.toThrow('no place');
    gate.leave();
    await second;
    expect({ live: gate.live, waiting: gate.waiting }).toEqual({ live: 1, waiting: 0 });
  });
});

describe('ConnectSlots', () => {
  it('lets at most max connections authenticate at once, the others in arrival order', async () => {
    const slots = new ConnectSlots(2);
    await slots.acquire();
    await slots.acquire();
    const order: number[] = [];
    const third = slots.acquire().then(() => order.push(3));
    const fourth = slots.acquire().then(() => order.push(4));
    await settle();
    expect(order).toEqual([]);
    slots.release();
    await third;
    expect(order).toEqual([3]);
    slots.release();
    await fourth;
    expect(order).toEqual([3, 4]);
  });
});
