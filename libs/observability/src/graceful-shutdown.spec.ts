import type { INestApplicationContext, LoggerService } from '@nestjs/common';
import { installGracefulShutdown } from './graceful-shutdown';

function setup(close: () => Promise<void>) {
  const exit = jest.fn<void, [number]>();
  const logger: LoggerService = { log: jest.fn(), warn: jest.fn(), error: jest.fn() };
  const app = { close: jest.fn(close) } as unknown as INestApplicationContext;
  const uninstall = installGracefulShutdown(app, { graceMs: 1000, logger, exit });
  return { exit, logger, app, uninstall };
}

describe('installGracefulShutdown', () => {
  let uninstall: (() => void) | undefined;
  afterEach(() => {
    uninstall?.();
    jest.useRealTimers();
  });

  it('closes the app and exits 0 on SIGTERM', async () => {
    const s = setup(() => Promise.resolve());
    uninstall = s.uninstall;
    process.emit('SIGTERM', 'SIGTERM');
    await new Promise(setImmediate);
    expect(s.app.close).toHaveBeenCalledTimes(1);
    expect(s.exit).toHaveBeenCalledWith(0);
  });

  it('exits 1 when closing outlasts the grace period', () => {
    jest.useFakeTimers();
    const s = setup(() => new Promise(() => undefined));
    uninstall = s.uninstall;
    process.emit('SIGINT', 'SIGINT');
    jest.advanceTimersByTime(999);
    expect(s.exit).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(s.exit).toHaveBeenCalledWith(1);
  });

  it('exits 1 at once on a second signal', () => {
    const s = setup(() => new Promise(() => undefined));
    uninstall = s.uninstall;
    process.emit('SIGTERM', 'SIGTERM');
    process.emit('SIGINT', 'SIGINT');
    expect(s.app.close).toHaveBeenCalledTimes(1);
    expect(s.exit).toHaveBeenCalledWith(1);
  });

  it('exits 1 when closing fails', async () => {
    const s = setup(() => Promise.reject(new Error('pool would not close')));
    uninstall = s.uninstall;
    process.emit('SIGHUP', 'SIGHUP');
    await new Promise(setImmediate);
    expect(s.exit).toHaveBeenCalledWith(1);
    expect(s.logger.error).toHaveBeenCalledWith(
      'error while stopping: pool would not close',
      undefined,
      'Shutdown',
    );
  });
});
