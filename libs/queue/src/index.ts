export { ProvisioningQueue, PROVISIONING_QUEUE, type EnqueueOptions } from './job-queue';
export {
  JOB_OUTCOMES,
  JobOutcomeRecorder,
  jobOutcomesKey,
  readJobOutcomes,
  type JobOutcomeCount,
  type JobPassOutcome,
} from './job-outcomes';
export { OutboxRelay } from './outbox-relay';
export { ProvisioningQueueModule } from './provisioning-queue.module';
export { ProvisioningQueueStats, QUEUE_JOB_STATES, type QueueJobState } from './provisioning-queue-stats';
export { QueueConnectionModule } from './queue-connection.module';
export {
  assertOneHandlerPerJob,
  jobProcessor,
  startQueueWorker,
  type JobHandler,
  type JobOutcome,
  type ProcessedJob,
  type QueueJob,
  type QueueWorker,
  type QueueWorkerOptions,
} from './queue-worker';
export { RedisConnection } from './redis-connection';
export { redisConnectionOptions } from './redis-connection-options';
