export { loadConfig } from './lib/load-config';
export { parseSize, formatBytes } from './lib/size.util';
export { parseDuration } from './lib/duration.util';
export { ConfigError } from './lib/config.error';
export { ENV_VARS } from './lib/env-vars';
export { MODEL_FORMATS } from './lib/config.constants';
export type {
  CacheConfig,
  ConfigProblem,
  ConfiguredModel,
  DatabaseConfig,
  EnvVarInfo,
  GatewayConfig,
  LoadConfigOptions,
  LogConfig,
  LogFormat,
  LogLevel,
  ModelFormat,
  NatsConfig,
  PortfolioConfig,
  RuntimeConfig,
  StorageConfig,
  StorageDriver,
} from './lib/config.types';
