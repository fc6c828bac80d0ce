import { Logger } from '@nestjs/common';

import { PortfolioError } from '@portfolio/contracts';

import type { RegistryMetrics } from '../registry.metrics';

/** SQLSTATE classes and socket errors that mean "the database is not reachable right now". */
const UNAVAILABLE_SQLSTATE = /^(08|57P0[1-3]|53300)/;
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
]);

/**
 * PGlite is ONE connection: two transactions in flight at once would interleave their
 * statements inside each other. On PGlite every database operation of the registry
 * therefore runs through this gate, one at a time. A PostgreSQL server isolates
 * transactions itself, so there the gate lets everything through. Each operation is
 * timed by its name (the time it ran, not the time it waited for the gate).
 */
export class DbGate {
  private readonly logger = new Logger('RegistryDatabase');
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly serialize: boolean,
    private readonly metrics: RegistryMetrics | null = null,
  ) {}

  /** `name`: the operation's, for the metrics (a fixed word per call site, never data). */
  run<T>(name: string, operation: () => Promise<T>): Promise<T> {
    const guarded = () => {
      const started = performance.now();
      const seconds = () => (performance.now() - started) / 1000;
      return operation().then(
        (result) => {
          this.metrics?.observe(name, true, seconds());
          return result;
        },
        (e: unknown) => {
          this.metrics?.observe(name, false, seconds());
          return this.translateUnavailable(e);
        },
      );
    };
    if (!this.serialize) return guarded();
    const result = this.tail.then(guarded, guarded);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /**
   * A database that is down or restarting is a 503 for the caller (retry later), not an
   * internal error: the connection pool replaces broken connections by itself. The
   * driver's message names the database's host and port: the log gets it, the caller
   * a sentence.
   */
  private translateUnavailable(e: unknown): never {
    const code =
      (e as { code?: unknown; driverError?: { code?: unknown } } | null)
        ?.driverError?.code ?? (e as { code?: unknown } | null)?.code;
    const message = e instanceof Error ? e.message : String(e);
    if (
      (typeof code === 'string' &&
        (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code))) ||
      /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
        message,
      )
    ) {
      this.logger.warn(`the database is unavailable: ${message}`);
      throw new PortfolioError('SERVICE_UNAVAILABLE', DATABASE_UNAVAILABLE);
    }
    throw e;
  }
}

const DATABASE_UNAVAILABLE =
  'the model registry cannot reach its database; retry later';
