import { INestApplicationContext, Logger } from '@nestjs/common';
import {
  CustomTransportStrategy,
  MessageHandler,
  Server,
} from '@nestjs/microservices';
import { lastValueFrom, Observable } from 'rxjs';

import type { BusSubscription } from '../bus';
import { Messaging } from '../messaging';
import { BusContext } from './bus.context';
import { BUS_EXTRAS, BusHandlerExtras } from './bus-patterns';

/** Nest's own transport ids are numbers; this one names the project's bus. */
export const BUS_TRANSPORT = Symbol('portfolio-bus');

/**
 * A Nest microservice transport over the project's bus (NATS, or the in-process bus of
 * the standalone app): `@BusRpc` / `@BusEvent` handlers of Nest controllers answer
 * their contract's subject, with Nest's interceptors, guards, pipes and exception
 * filters around each message.
 *
 * Subscribing goes through Messaging, as the services' raw handlers do: decoding and
 * validation against the contract's schema, trace context, and the encoding of
 * PortfolioError replies happen in one place for both. So a handler's exception must
 * reach Messaging as a PortfolioError: BusExceptionFilter, which BusRpc and BusEvent
 * put on every handler, hands it on, where Nest's default filter would replace it
 * with a generic "Internal server error".
 */
export class BusServer extends Server implements CustomTransportStrategy {
  override readonly transportId = BUS_TRANSPORT;
  private readonly busLogger = new Logger('BusServer');
  private subscriptions: BusSubscription[] = [];
  private app: INestApplicationContext | null = null;
  private messaging: Messaging | null = null;

  /**
   * The app whose Messaging this server subscribes with, and whose providers name
   * the instances that targeted handlers answer for: call before `listen`.
   */
  attach(app: INestApplicationContext): this {
    this.app = app;
    this.messaging = app.get(Messaging);
    return this;
  }

  listen(callback: (error?: unknown) => void): void {
    try {
      this.subscribeAll();
    } catch (e) {
      this.closeSubscriptions();
      callback(e);
      return;
    }
    callback();
  }

  close(): void {
    this.closeSubscriptions();
  }

  /** Nest's event listeners for transport status: this bus reports none. */
  on(): void {
    throw new Error('the bus transport has no status events');
  }

  unwrap<T>(): T {
    if (!this.messaging) throw new Error('BusServer: no Messaging yet');
    return this.messaging.bus as T;
  }

  /** The subjects subscribed, for logs and tests. */
  subjects(): string[] {
    const m = this.requireMessaging();
    return [...this.messageHandlers.values()].map((h) => {
      const extras = busExtras(h);
      return extras.kind === 'rpc'
        ? extras.definition.subject(m.prefix, this.target(extras))
        : extras.definition.subject(m.prefix);
    });
  }

  private subscribeAll(): void {
    const m = this.requireMessaging();
    for (const [pattern, handler] of this.messageHandlers) {
      const extras = busExtras(handler);
      if (extras.kind === 'rpc') {
        this.subscriptions.push(
          m.serve(
            extras.definition,
            async (request, message) =>
              settle(
                this.transformToObservable(
                  await handler(request, new BusContext([message, pattern])),
                ),
              ),
            { target: this.target(extras) },
          ),
        );
      } else {
        this.subscriptions.push(
          m.on(
            extras.definition,
            async (payload, message) => {
              // Several handlers of one event are chained by Nest (`next`).
              for (let h: MessageHandler | undefined = handler; h; h = h.next)
                await settle(
                  this.transformToObservable(
                    await h(payload, new BusContext([message, pattern])),
                  ),
                );
            },
            extras.queue ? { queue: extras.queue } : {},
          ),
        );
      }
    }
    this.busLogger.debug(
      `listening on ${this.subscriptions.length} subjects: ${this.subjects().join(', ')}`,
    );
  }

  /** A targeted handler's instance id: the value of its target token in the app. */
  private target(
    extras: Extract<BusHandlerExtras, { kind: 'rpc' }>,
  ): string | undefined {
    if (extras.target === undefined) return undefined;
    let value: unknown;
    try {
      value = this.app?.get(extras.target, { strict: false });
    } catch {
      value = undefined;
    }
    if (typeof value !== 'string' || value === '')
      throw new Error(
        `${extras.definition.name} answers for the instance named by ${String(extras.target)}, which no provider of this app gives`,
      );
    return value;
  }

  private requireMessaging(): Messaging {
    if (!this.messaging)
      throw new Error('BusServer: call attach before listen');
    return this.messaging;
  }

  private closeSubscriptions(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions = [];
  }
}

function busExtras(handler: MessageHandler): BusHandlerExtras {
  const extras = (handler.extras as Record<string, unknown> | undefined)?.[
    BUS_EXTRAS
  ] as BusHandlerExtras | undefined;
  if (!extras)
    throw new Error(
      'a message handler without a contract: decorate it with @BusRpc or @BusEvent, not @MessagePattern',
    );
  return extras;
}

/** The handler's last value (its reply), or its error as thrown. */
function settle<T>(result: Observable<T>): Promise<T | undefined> {
  return lastValueFrom(result, { defaultValue: undefined });
}
