import { Logger } from '@nestjs/common';

import type { PortfolioConfig } from '@portfolio/config';
import { PortfolioLogger, resolveLogFormat } from '@portfolio/telemetry';

let current: PortfolioLogger | null = null;

/**
 * The process's logger (see PortfolioLogger), set as Nest's for every Logger from here
 * on: JSON lines, or readable lines on a terminal (log.format), at log.level. Every line
 * names the service; a runtime's lines also name its node (`node_id`). Made once per
 * process; later calls return the same logger.
 */
export function useStructuredLogs(
  config: PortfolioConfig,
  service: string,
): PortfolioLogger {
  if (current) return current;
  const format = resolveLogFormat(config.log.format);
  current = new PortfolioLogger({
    service,
    level: config.log.level,
    format,
    color:
      format === 'pretty' &&
      process.stdout.isTTY === true &&
      !process.env['NO_COLOR'],
    fields: service === 'runtime' ? { node_id: config.runtime.nodeId } : {},
  });
  Logger.overrideLogger(current);
  return current;
}
