export { QueueConnectionModule } from './queue-connection.module';
export { RedisConnection } from './redis-connection';
