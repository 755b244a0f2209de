export { environmentSchema, type Environment, type EnvironmentVariable } from './config.schema';
export { ensureOwnDevJwtSecret } from './dev-env-secret';
export { ConfigError, loadConfig, type LoadConfigOptions } from './load-config';
export { loadConfigOrExit } from './load-config-or-exit';
export { SiloConfig, type LogLevel } from './silo-config';
export { SiloConfigModule } from './silo-config.module';
export {
  AWS_REGION_PATTERN,
  resolveRegions,
  type RegionEnvironment,
  type RegionIssue,
  type RegionSettings,
  type Regions,
} from './region-settings';
