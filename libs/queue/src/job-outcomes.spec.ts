import { DelayedError } from 'bullmq';
import {
  JobOutcomeRecorder,
  jobOutcomesKey,
  readJobOutcomes,
  type OutcomeCounterClient,
} from './job-outcomes';
import { jobProcessor, type JobHandler, type ProcessedJob } from './queue-worker';

function fakeJob(name = 'provision-tenant'): ProcessedJob & { moveToDelayed: jest.Mock } {
  return {
    id: 'job-1',
    name,
    data: { tenantId: 't1' },
    moveToDelayed: jest.fn(() => Promise.resolve()),
  };
}

const finished: JobHandler = () => Promise.resolve({ kind: 'finished' });
const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('job outcome counting', () => {
  const key = jobOutcomesKey('silo-x', 'provisioning');

  function recorder(hincrby: OutcomeCounterClient['hincrby']) {
    const warn = jest.fn();
    return { warn, recorder: new JobOutcomeRecorder({ hincrby }, key, { warn }) };
  }

  it('counts each pass by job name and outcome in one hash under the queue prefix', async () => {
    const hincrby = jest.fn(() => Promise.resolve(1));
    const { recorder: outcomes } = recorder(hincrby);
    const process = jobProcessor(
      {
        'provision-tenant': finished,
        'deprovision-tenant': () => Promise.resolve({ kind: 'delay', delayMs: 1000 }),
        broken: () => Promise.reject(new Error('bug')),
      },
      outcomes,
    );

    await process(fakeJob('provision-tenant'), 'token');
    await expect(process(fakeJob('deprovision-tenant'), 'token')).rejects.toBeInstanceOf(DelayedError);
    await expect(process(fakeJob('broken'), 'token')).rejects.toThrow('bug');
    await expect(process(fakeJob('unknown'), 'token')).rejects.toThrow('no handler for job unknown');

    expect(key).toBe('silo-x:silo:provisioning:job-outcomes');
    expect(hincrby.mock.calls).toEqual([
      [key, 'provision-tenant:completed', 1],
      [key, 'deprovision-tenant:delayed', 1],
      [key, 'broken:failed', 1],
      [key, 'unknown:failed', 1],
    ]);
  });

  it('finishes the job pass when Redis refuses the count, and logs the lost count', async () => {
    const { recorder: outcomes, warn } = recorder(() => Promise.reject(new Error('Connection is closed.')));
    await expect(
      jobProcessor({ 'provision-tenant': finished }, outcomes)(fakeJob()),
    ).resolves.toBeUndefined();
    await flush();
    expect(warn).toHaveBeenCalledWith(
      'job outcome not counted (provision-tenant completed): Connection is closed.',
    );
  });

  it('finishes the job pass without waiting for a count Redis never acknowledges', async () => {
    const { recorder: outcomes } = recorder(() => new Promise<number>(() => undefined));
    await expect(
      jobProcessor({ 'provision-tenant': finished }, outcomes)(fakeJob()),
    ).resolves.toBeUndefined();
  });

  it('keeps the handler’s own outcome when the Redis client throws at once', async () => {
    const { recorder: outcomes, warn } = recorder(() => {
      throw new Error('client closed');
    });
    const job = fakeJob();
    const process = jobProcessor(
      { 'provision-tenant': () => Promise.resolve({ kind: 'delay', delayMs: 5 }) },
      outcomes,
    );
    await expect(process(job, 'token')).rejects.toBeInstanceOf(DelayedError);
    expect(job.moveToDelayed).toHaveBeenCalledWith(expect.any(Number), 'token');
    expect(warn).toHaveBeenCalledWith('job outcome not counted (provision-tenant delayed): client closed');
  });

  it('reads the counts back, ignoring fields it did not write', async () => {
    const hgetall = jest.fn(() =>
      Promise.resolve({
        'provision-tenant:completed': '3',
        'provision-tenant:delayed': '12',
        'a:b:failed': '1',
        'provision-tenant:exploded': '4',
        'provision-tenant:failed': 'many',
        ':completed': '2',
      }),
    );
    await expect(readJobOutcomes({ hgetall }, key)).resolves.toEqual([
      { job: 'provision-tenant', outcome: 'completed', count: 3 },
      { job: 'provision-tenant', outcome: 'delayed', count: 12 },
      { job: 'a:b', outcome: 'failed', count: 1 },
    ]);
    expect(hgetall).toHaveBeenCalledWith(key);
  });
});
