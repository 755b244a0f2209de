export { environmentSchema, type Environment, type EnvironmentVariable } from './config.schema';
export { ConfigError, loadConfig, type LoadConfigOptions } from './load-config';
export { loadConfigOrExit } from './load-config-or-exit';
export { SiloConfig, type LogLevel } from './silo-config';
export { SiloConfigModule } from './silo-config.module';
