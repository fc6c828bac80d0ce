import {
  ArgumentsHost,
  Catch,
  Logger,
  RpcExceptionFilter,
} from '@nestjs/common';
import { Observable, throwError } from 'rxjs';

import { isPortfolioError, PortfolioError } from '@portfolio/contracts';

/**
 * Errors of bus handlers, mapped to the project's error model: a PortfolioError goes
 * back to the caller as it is (its code and message become the error reply); anything
 * else is a bug, logged with its stack here and answered as INTERNAL.
 */
@Catch()
export class BusExceptionFilter implements RpcExceptionFilter<unknown> {
  private readonly logger = new Logger('BusExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): Observable<never> {
    if (isPortfolioError(exception)) return throwError(() => exception);
    const pattern = host.switchToRpc().getContext<{ getPattern?(): string }>();
    this.logger.error(
      `${pattern.getPattern?.() ?? 'a bus handler'} failed: ${exception instanceof Error ? exception.stack : String(exception)}`,
    );
    return throwError(
      () =>
        new PortfolioError(
          'INTERNAL',
          exception instanceof Error ? exception.message : String(exception),
        ),
    );
  }
}
