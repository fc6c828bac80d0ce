export { resolveLogFormat } from './log-format';
export type { LogFormat, LogFormatSetting } from './log-format';
export { PortfolioLogger } from './portfolio-logger';
export type {
  PortfolioLoggerOptions,
  PortfolioLogLevel,
} from './portfolio-logger';
export { formatLogRecord, prettyLogLine, prettyLogText } from './pretty';
export type { PrettyOptions } from './pretty';
