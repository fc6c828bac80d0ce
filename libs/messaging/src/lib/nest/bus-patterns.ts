import { applyDecorators, UseFilters } from '@nestjs/common';
import { EventPattern, MessagePattern } from '@nestjs/microservices';

import type { EventDefinition, RpcDefinition } from '@portfolio/contracts';

import { BusExceptionFilter } from './bus-exception.filter';

/** Where a handler's contract travels from its decorator to the BusServer (Nest's pattern extras). */
export const BUS_EXTRAS = 'portfolioBus';

export type BusHandlerExtras =
  | {
      readonly kind: 'rpc';
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      readonly definition: RpcDefinition<any, any>;
      /**
       * For targeted definitions: the injection token whose value (a string provided
       * in the app) is the instance this handler answers for, such as a runtime's
       * node id. In the standalone app several services' tokens live side by side.
       */
      readonly target?: string | symbol;
    }
  | {
      readonly kind: 'event';
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      readonly definition: EventDefinition<any>;
      readonly queue?: string;
    };

/**
 * Answers `definition`'s requests: the method receives the request, already validated
 * against the contract's schema (`@Payload()`), and the BusContext (`@Ctx()`); what it
 * returns is the reply, which the caller validates against the response schema. It
 * throws PortfolioError to answer with a coded error.
 *
 * The pattern is the definition's name: the contract stays the one source of the
 * subject, the queue group and both schemas. Errors go through BusExceptionFilter,
 * whatever filters the app has for HTTP (the standalone app has both).
 */
export function BusRpc<Req, Res>(
  definition: RpcDefinition<Req, Res>,
  options: { target?: string | symbol } = {},
): MethodDecorator {
  const extras: BusHandlerExtras = {
    kind: 'rpc',
    definition,
    ...(options.target !== undefined ? { target: options.target } : {}),
  };
  return applyDecorators(
    MessagePattern(definition.name, { [BUS_EXTRAS]: extras }),
    UseFilters(BusExceptionFilter),
  );
}

/**
 * Receives `definition`'s events, validated against its schema. With `queue`, one
 * member of that queue group gets each event; otherwise every instance does.
 */
export function BusEvent<T>(
  definition: EventDefinition<T>,
  options: { queue?: string } = {},
): MethodDecorator {
  const extras: BusHandlerExtras = {
    kind: 'event',
    definition,
    ...(options.queue ? { queue: options.queue } : {}),
  };
  return applyDecorators(
    EventPattern(definition.name, { [BUS_EXTRAS]: extras }),
    UseFilters(BusExceptionFilter),
  );
}
