import { withTimeout } from './with-timeout';

describe('withTimeout', () => {
  afterEach(() => jest.useRealTimers());

  it("passes the promise's value through", async () => {
    await expect(withTimeout(Promise.resolve(7), 1000)).resolves.toBe(7);
  });

  it('rejects with the message once the time is up', async () => {
    jest.useFakeTimers();
    const never = new Promise<never>(() => undefined);
    const raced = withTimeout(never, 500, 'Redis did not answer');
    jest.advanceTimersByTime(500);
    await expect(raced).rejects.toThrow('Redis did not answer');
  });

  it('leaves no timer behind and swallows a late rejection', async () => {
    jest.useFakeTimers();
    let fail!: (e: Error) => void;
    const late = new Promise<never>((_, reject) => (fail = reject));
    const raced = withTimeout(late, 100);
    jest.advanceTimersByTime(100);
    await expect(raced).rejects.toThrow('no answer within 100 ms');
    fail(new Error('too late'));
    expect(jest.getTimerCount()).toBe(0);
  });
});
