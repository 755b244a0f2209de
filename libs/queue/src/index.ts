export { ProvisioningQueue, PROVISIONING_QUEUE, type EnqueueOptions } from './job-queue';
export { OutboxRelay } from './outbox-relay';
export { QueueConnectionModule } from './queue-connection.module';
export {
  assertOneHandlerPerJob,
  startQueueWorker,
  type JobHandler,
  type JobOutcome,
  type QueueJob,
  type QueueWorker,
  type QueueWorkerOptions,
} from './queue-worker';
export { RedisConnection } from './redis-connection';
export { redisConnectionOptions } from './redis-connection-options';
