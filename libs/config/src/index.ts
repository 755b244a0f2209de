export { environmentSchema, type Environment, type EnvironmentVariable } from './config.schema';
export { ensureOwnDevJwtSecret } from './dev-env-secret';
export { ConfigError, loadConfig, type LoadConfigOptions } from './load-config';
export { loadConfigOrExit } from './load-config-or-exit';
export { SiloConfig, type LogLevel } from './silo-config';
export { SiloConfigModule } from './silo-config.module';
