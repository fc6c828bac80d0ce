import { Logger } from '@nestjs/common';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';

import { startTracing, stopTracing } from '../tracing/start-tracing';
import { PortfolioLogger, PortfolioLoggerOptions } from './portfolio-logger';
import { prettyLogLine } from './pretty';

/** A logger writing into an array, one parsed JSON object per line. */
function capture(options: Partial<PortfolioLoggerOptions> = {}) {
  const lines: string[] = [];
  const logger = new PortfolioLogger({
    service: 'cache-manager',
    level: 'info',
    format: 'json',
    stream: { write: (line: string) => lines.push(line) },
    ...options,
  });
  const records = () =>
    lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines, records };
}

describe('PortfolioLogger', () => {
  afterEach(() => Logger.overrideLogger(false));

  it('writes one JSON object per line with service, level, time, context and message', () => {
    const { logger, lines, records } = capture();
    logger.log(
      'loaded iris@1 on runtime-a (miss): 1024 bytes in 12 ms',
      'CacheManager',
    );

    expect(lines).toHaveLength(1);
    expect(lines[0].endsWith('\n')).toBe(true);
    expect(lines[0].trimEnd()).not.toContain('\n');
    const [record] = records();
    expect(record).toMatchObject({
      level: 'info',
      service: 'cache-manager',
      context: 'CacheManager',
      message: 'loaded iris@1 on runtime-a (miss): 1024 bytes in 12 ms',
      pid: process.pid,
    });
    expect(new Date(record['time'] as string).toISOString()).toBe(
      record['time'],
    );
    expect(record).not.toHaveProperty('trace_id');
  });

  it('follows Nest: through Logger, the context is the logger name; an error has its stack; an object adds fields', () => {
    const { logger, records } = capture();
    Logger.overrideLogger(logger);
    const error = new Error('relation "models" does not exist');
    new Logger('Gateway').error(
      'GET /admin/models/x [r-1]: internal',
      error.stack,
      { request_id: 'r-1' },
    );
    new Logger('Runtime').warn('slow');

    expect(records()).toEqual([
      expect.objectContaining({
        level: 'error',
        context: 'Gateway',
        message: 'GET /admin/models/x [r-1]: internal',
        request_id: 'r-1',
        stack: error.stack,
      }),
      expect.objectContaining({
        level: 'warn',
        context: 'Runtime',
        message: 'slow',
      }),
    ]);
  });

  it("takes an Error as the message, and never lets fields replace the line's own", () => {
    const { logger, records } = capture();
    logger.error(
      new Error('boom'),
      { level: 'info', service: 'x', node_id: 'n1' },
      'Ctx',
    );
    expect(records()[0]).toMatchObject({
      level: 'error',
      service: 'cache-manager',
      message: 'boom',
      node_id: 'n1',
      context: 'Ctx',
    });
    expect(records()[0]['stack']).toContain('Error: boom');
  });

  it('writes nothing below its level, and follows Nest setLogLevels', () => {
    const { logger, records } = capture({ level: 'warn' });
    logger.log('hidden', 'X');
    logger.debug('hidden', 'X');
    logger.warn('shown', 'X');
    logger.setLogLevels(['fatal', 'error', 'warn', 'log', 'debug', 'verbose']);
    logger.verbose('now shown', 'X');
    expect(records().map((r) => [r['level'], r['message']])).toEqual([
      ['warn', 'shown'],
      ['trace', 'now shown'],
    ]);
  });

  it("adds fixed fields to every line (a runtime's node id)", () => {
    const { logger, records } = capture({
      service: 'runtime',
      fields: { node_id: 'runtime-a' },
    });
    logger.log('x', 'Runtime');
    expect(records()[0]).toMatchObject({
      service: 'runtime',
      node_id: 'runtime-a',
    });
  });

  it('writes one readable line in the pretty format', () => {
    const { logger, lines } = capture({ format: 'pretty' });
    logger.warn(
      'unloaded iris@1 from runtime-a (reason: ttl), freeing 10 bytes',
      { model_id: 'iris' },
      'CacheManager',
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} WARN {2}\[cache-manager\] CacheManager: unloaded iris@1 from runtime-a \(reason: ttl\), freeing 10 bytes {2}model_id=iris\n$/,
    );
  });
});

describe('PortfolioLogger inside a trace', () => {
  beforeAll(() => {
    startTracing({ service: 'test', spanExporter: new InMemorySpanExporter() });
  });
  afterAll(() => stopTracing());

  it('adds trace_id and span_id of the active span', () => {
    const { logger, records } = capture();
    const tracer = trace.getTracer('test');
    let ids = { traceId: '', spanId: '' };
    tracer.startActiveSpan('work', (span) => {
      ids = span.spanContext();
      logger.log('inside', 'X');
      span.end();
    });
    logger.log('outside', 'X');
    expect(records()[0]).toMatchObject({
      message: 'inside',
      trace_id: ids.traceId,
      span_id: ids.spanId,
    });
    expect(ids.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(records()[1]).not.toHaveProperty('trace_id');
  });
});

describe('prettyLogLine', () => {
  it('renders a JSON log line, and leaves any other line as it is', () => {
    const line = JSON.stringify({
      level: 'error',
      time: '2026-11-05T10:42:01.123Z',
      service: 'gateway',
      pid: 1,
      hostname: 'h',
      context: 'Gateway',
      trace_id: 'abc',
      span_id: 'def',
      message: 'GET /x [r]: boom',
      stack: 'Error: boom\n    at f (a.js:1:1)',
    });
    const rendered = prettyLogLine(line);
    expect(rendered).toMatch(
      /^\d\d:\d\d:\d\d\.123 ERROR \[gateway\] Gateway: GET \/x \[r\]: boom {2}trace_id=abc\n {4}at f \(a\.js:1:1\)$/,
    );
    expect(prettyLogLine('gateway ready')).toBe('gateway ready');
    expect(prettyLogLine('{"level":oops')).toBe('{"level":oops');
  });
});
