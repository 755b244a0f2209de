import { assertOneHandlerPerJob, type JobHandler } from './queue-worker';

const handler: JobHandler = () => Promise.resolve({ kind: 'finished' });

describe('assertOneHandlerPerJob', () => {
  it('accepts exactly one handler per job name', () => {
    expect(() => assertOneHandlerPerJob(['a', 'b'], { a: handler, b: handler })).not.toThrow();
  });

  it('refuses a job name without a handler, naming it', () => {
    expect(() => assertOneHandlerPerJob(['a', 'b'], { a: handler })).toThrow('no handler for b');
  });

  it('refuses a handler for a job the queue does not carry', () => {
    expect(() => assertOneHandlerPerJob(['a'], { a: handler, z: handler })).toThrow(
      'handlers for unknown jobs z',
    );
  });

  it('refuses a job name listed twice', () => {
    expect(() => assertOneHandlerPerJob(['a', 'a'], { a: handler })).toThrow('job names listed twice: a');
  });
});
