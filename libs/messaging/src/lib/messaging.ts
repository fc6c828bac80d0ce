import { Logger } from '@nestjs/common';
import { SpanKind } from '@opentelemetry/api';
import { z } from 'zod';

import {
  EventDefinition,
  isPortfolioError,
  PortfolioError,
  RpcDefinition,
} from '@portfolio/contracts';
import {
  IncomingSpan,
  injectTraceContext,
  markActiveSpanFailed,
  runInIncomingTraceContext,
} from '@portfolio/telemetry';

import {
  BusError,
  BusHandler,
  BusMessage,
  BusReply,
  BusSubscription,
  MessageBus,
} from './bus';
import { decodeJson, encodeJson } from './json.util';
import type { MessagingMetrics } from './messaging.metrics';

/** Marks a reply whose body is an error (`{code, message, details}`), not a result. */
export const ERROR_HEADER = 'Portfolio-Error';

export interface CallOptions {
  /** Addresses one instance (a runtime's node id) for targeted definitions. */
  readonly target?: string;
  readonly timeoutMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** requestRaw only: handed over by the in-process bus, never by NATS (see BusMessage). */
  readonly attachment?: unknown;
  /**
   * requestRaw only: the contract's name for the metrics (`runtime.<target>.infer.v1`),
   * never the subject, which names node ids; `call` uses its definition's. Default `raw`.
   */
  readonly name?: string;
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
    /** Counts failed requests and times the RPCs served; none in tests that make their own. */
    private readonly metrics: MessagingMetrics | null = null,
  ) {}

  async call<Req, Res>(
    def: RpcDefinition<Req, Res>,
    request: Req,
    options: CallOptions = {},
  ): Promise<Res> {
    const subject = def.subject(this.prefix, options.target);
    const reply = await this.requestRaw(
      subject,
      encodeJson(request),
      options.name ? options : { ...options, name: def.name },
    );
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
        headers: injectTraceContext(options.headers),
        attachment: options.attachment,
      });
    } catch (e) {
      this.metrics?.requestFailed(
        options.name ?? 'raw',
        'bus',
        e instanceof BusError ? e.code.toLowerCase() : 'other',
      );
      throw fromBusError(e, subject);
    }
    const errorCode = reply.headers[ERROR_HEADER];
    if (errorCode !== undefined) {
      this.metrics?.requestFailed(options.name ?? 'raw', 'reply', errorCode);
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
    return this.subscribeInTrace(
      { name: def.name, kind: SpanKind.SERVER },
      subject,
      async (message) => {
        const started = this.metrics ? performance.now() : 0;
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
          const ok = { data: encodeJson(await handler(parsed.data, message)) };
          this.metrics?.handled(
            def.name,
            'OK',
            (performance.now() - started) / 1000,
          );
          return ok;
        } catch (e) {
          const failed = this.errorReply(e, def.name);
          this.metrics?.handled(
            def.name,
            failed.headers?.[ERROR_HEADER] ?? 'INTERNAL',
            (performance.now() - started) / 1000,
          );
          return failed;
        }
      },
      def.queue ? { queue: def.queue } : {},
    );
  }

  /**
   * Raw handler; thrown errors are encoded like `serve` does. `name`: the contract's
   * name for the trace's spans (`runtime.<target>.infer.v1`); default the subject.
   */
  serveRaw(
    subject: string,
    handler: (message: BusMessage) => Promise<BusReply> | BusReply,
    options: { queue?: string; name?: string } = {},
  ): BusSubscription {
    return this.subscribeInTrace(
      { name: options.name ?? subject, kind: SpanKind.SERVER },
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
      this.bus.publish(
        def.subject(this.prefix),
        encodeJson(payload),
        injectTraceContext(),
      );
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
    handler: (payload: T, message: BusMessage) => void | Promise<void>,
    options: { queue?: string } = {},
  ): BusSubscription {
    return this.subscribeInTrace(
      { name: def.name, kind: SpanKind.CONSUMER },
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
          await handler(parsed.data, message);
        } catch (e) {
          markActiveSpanFailed(e);
          this.logger.error(
            `handler for ${def.name} failed: ${e instanceof Error ? e.message : String(e)}`,
            e instanceof Error ? e.stack : undefined,
          );
        }
      },
      options,
    );
  }

  /**
   * bus.subscribe, each message handled inside the trace it came from, in a span named
   * after the contract (see runInIncomingTraceContext; untraced messages get none).
   */
  private subscribeInTrace(
    span: Pick<IncomingSpan, 'name' | 'kind'>,
    subject: string,
    handler: BusHandler,
    options: { queue?: string },
  ): BusSubscription {
    const incoming: IncomingSpan = {
      ...span,
      attributes: {
        'messaging.system':
          this.bus.kind === 'nats' ? 'nats' : 'portfolio.in_process',
        'messaging.destination.name': subject,
        'messaging.operation.type': 'process',
        ...(options.queue
          ? { 'messaging.consumer.group.name': options.queue }
          : {}),
      },
    };
    return this.bus.subscribe(
      subject,
      (message) =>
        runInIncomingTraceContext(message.headers, incoming, () =>
          handler(message),
        ),
      options,
    );
  }

  private errorReply(e: unknown, what: string): BusReply {
    // The handler's span, when the request came traced: failed, with the error.
    markActiveSpanFailed(e);
    let error: PortfolioError;
    if (isPortfolioError(e)) {
      error = e;
    } else {
      this.logger.error(
        `${what} failed: ${e instanceof Error ? e.message : String(e)}`,
        e instanceof Error ? e.stack : undefined,
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
