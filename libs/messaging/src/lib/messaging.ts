import { Logger } from '@nestjs/common';
import { z } from 'zod';

import {
  EventDefinition,
  isPortfolioError,
  PortfolioError,
  RpcDefinition,
} from '@portfolio/contracts';

import {
  BusError,
  BusMessage,
  BusReply,
  BusSubscription,
  MessageBus,
} from './bus';
import { decodeJson, encodeJson } from './json.util';

/** Marks a reply whose body is an error (`{code, message, details}`), not a result. */
export const ERROR_HEADER = 'Portfolio-Error';

export interface CallOptions {
  /** Addresses one instance (a runtime's node id) for targeted definitions. */
  readonly target?: string;
  readonly timeoutMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** requestRaw only: handed over by the in-process bus, never by NATS (see BusMessage). */
  readonly attachment?: unknown;
}

/**
 * Typed messaging on top of a bus: every message is validated on receipt against its
 * schema in @portfolio/contracts, on both sides. Handlers throw PortfolioError to
 * answer with a coded error; anything else they throw becomes INTERNAL (logged here,
 * with the message kept for the caller's logs: the gateway never shows an INTERNAL
 * message to a client).
 */
export class Messaging {
  private readonly logger = new Logger('Messaging');

  constructor(
    readonly bus: MessageBus,
    readonly prefix: string,
    readonly defaultTimeoutMs: number,
  ) {}

  async call<Req, Res>(
    def: RpcDefinition<Req, Res>,
    request: Req,
    options: CallOptions = {},
  ): Promise<Res> {
    const subject = def.subject(this.prefix, options.target);
    const reply = await this.requestRaw(subject, encodeJson(request), options);
    const parsed = def.response.safeParse(decodeJson(reply.data));
    if (!parsed.success) {
      throw new PortfolioError(
        'INTERNAL',
        `malformed reply on ${def.name}: ${describeIssues(parsed.error)}`,
      );
    }
    return parsed.data;
  }

  /**
   * Raw request (binary payloads such as tensor frames). Error replies are rethrown
   * as PortfolioError; bus failures become SERVICE_UNAVAILABLE (nobody listening:
   * `details.bus = 'no_responders'`; the bus lost its server: `'disconnected'`, at
   * once) or TIMEOUT.
   */
  async requestRaw(
    subject: string,
    data: Uint8Array,
    options: CallOptions = {},
  ): Promise<BusMessage> {
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    let reply: BusMessage;
    try {
      reply = await this.bus.request(subject, data, {
        timeoutMs,
        headers: options.headers,
        attachment: options.attachment,
      });
    } catch (e) {
      throw fromBusError(e, subject);
    }
    if (reply.headers[ERROR_HEADER] !== undefined) {
      throw PortfolioError.fromBody(safeDecode(reply.data));
    }
    return reply;
  }

  serve<Req, Res>(
    def: RpcDefinition<Req, Res>,
    handler: (request: Req, message: BusMessage) => Promise<Res> | Res,
    options: { target?: string } = {},
  ): BusSubscription {
    const subject = def.subject(this.prefix, options.target);
    return this.bus.subscribe(
      subject,
      async (message) => {
        try {
          let body: unknown;
          try {
            body = decodeJson(message.data);
          } catch {
            throw new PortfolioError(
              'INVALID_REQUEST',
              `${def.name}: the request is not valid JSON`,
            );
          }
          const parsed = def.request.safeParse(body);
          if (!parsed.success) {
            throw new PortfolioError(
              'INVALID_REQUEST',
              `${def.name}: ${describeIssues(parsed.error)}`,
            );
          }
          return { data: encodeJson(await handler(parsed.data, message)) };
        } catch (e) {
          return this.errorReply(e, def.name);
        }
      },
      def.queue ? { queue: def.queue } : {},
    );
  }

  /** Raw handler; thrown errors are encoded like `serve` does. */
  serveRaw(
    subject: string,
    handler: (message: BusMessage) => Promise<BusReply> | BusReply,
    options: { queue?: string } = {},
  ): BusSubscription {
    return this.bus.subscribe(
      subject,
      async (message) => {
        try {
          return await handler(message);
        } catch (e) {
          return this.errorReply(e, subject);
        }
      },
      options,
    );
  }

  emit<T>(def: EventDefinition<T>, payload: T): void {
    try {
      this.bus.publish(def.subject(this.prefix), encodeJson(payload));
    } catch (e) {
      // Events are best effort (heartbeats, routing pushes are repeated anyway).
      this.logger.warn(
        `could not publish ${def.name}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }

  /**
   * Every subscriber gets every event, unless it names a `queue`: then one member of
   * that queue group gets each (e.g. one gateway counts each event for the metrics).
   */
  on<T>(
    def: EventDefinition<T>,
    handler: (payload: T) => void | Promise<void>,
    options: { queue?: string } = {},
  ): BusSubscription {
    return this.bus.subscribe(
      def.subject(this.prefix),
      async (message) => {
        let parsed: ReturnType<typeof def.payload.safeParse>;
        try {
          parsed = def.payload.safeParse(decodeJson(message.data));
        } catch {
          this.logger.warn(`dropped ${def.name}: not valid JSON`);
          return;
        }
        if (!parsed.success) {
          this.logger.warn(
            `dropped ${def.name}: ${describeIssues(parsed.error)}`,
          );
          return;
        }
        try {
          await handler(parsed.data);
        } catch (e) {
          this.logger.error(
            `handler for ${def.name} failed: ${e instanceof Error ? e.stack : String(e)}`,
          );
        }
      },
      options,
    );
  }

  private errorReply(e: unknown, what: string): BusReply {
    let error: PortfolioError;
    if (isPortfolioError(e)) {
      error = e;
    } else {
      this.logger.error(
        `${what} failed: ${e instanceof Error ? e.stack : String(e)}`,
      );
      error = new PortfolioError(
        'INTERNAL',
        e instanceof Error ? e.message : String(e),
      );
    }
    return {
      data: encodeJson(error.toJSON()),
      headers: { [ERROR_HEADER]: error.code },
    };
  }
}

function fromBusError(e: unknown, subject: string): Error {
  if (!(e instanceof BusError))
    return e instanceof Error ? e : new Error(String(e));
  switch (e.code) {
    case 'NO_RESPONDERS':
      return new PortfolioError(
        'SERVICE_UNAVAILABLE',
        `nothing is serving ${subject}`,
        { bus: 'no_responders', subject },
      );
    case 'TIMEOUT':
      return new PortfolioError('TIMEOUT', e.message, {
        bus: 'timeout',
        subject,
      });
    case 'CLOSED':
      return new PortfolioError('SERVICE_UNAVAILABLE', e.message, {
        bus: 'closed',
        subject,
      });
    case 'DISCONNECTED':
      return new PortfolioError(
        'SERVICE_UNAVAILABLE',
        'the message bus is unreachable; retry shortly',
        { bus: 'disconnected' },
      );
    case 'PAYLOAD_TOO_LARGE':
      return new PortfolioError('PAYLOAD_TOO_LARGE', e.message, {
        bus: 'payload_too_large',
        subject,
      });
    case 'INVALID_SUBJECT':
      return new PortfolioError('INTERNAL', e.message);
  }
}

function safeDecode(data: Uint8Array): unknown {
  try {
    return decodeJson(data);
  } catch {
    return null;
  }
}

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map(
      (issue) =>
        `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`,
    )
    .join('; ');
}
