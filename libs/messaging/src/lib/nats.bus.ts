import { Logger } from '@nestjs/common';
import {
  connect,
  createInbox,
  ErrorCode,
  headers as natsHeaders,
  Msg,
  MsgHdrs,
  NatsConnection,
  NatsError,
} from 'nats';

import {
  BusError,
  BusHandler,
  BusMessage,
  BusSubscription,
  MessageBus,
  RequestOptions,
} from './bus';
import { assertPlainSubject, subjectTokens } from './subject.util';

export interface NatsBusOptions {
  readonly url: string;
  /** Shown in the server's connection list (`nats server report connections`). */
  readonly name: string;
}

/**
 * NATS transport. The connection reconnects forever: a NATS outage never ends a
 * service. While it lasts, requests fail at once with `DISCONNECTED` (the callers
 * answer 503 and are retried) instead of waiting for deadlines that cannot be met, and
 * so do the requests that were waiting when the connection dropped. Subscriptions come
 * back by themselves with the connection. The first connection is awaited with retries
 * as well, so services may start before NATS does (compose, systemd).
 */
export class NatsBus implements MessageBus {
  private readonly reconnectListeners = new Set<() => void>();
  readonly kind = 'nats' as const;
  private readonly logger = new Logger('NatsBus');
  private connected = true;
  /**
   * Replies come to `<inbox>.<token>`, one subscription for all requests. (The
   * client's own request() creates an Error, stack trace and all, to cancel every
   * request it has settled: 632 ms of the gateway's CPU in one bench:overhead run.)
   */
  private readonly inbox = createInbox();
  private nextToken = 1;
  /** Requests waiting for their reply, by token. */
  private readonly pending = new Map<string, PendingRequest>();

  private constructor(private readonly nc: NatsConnection) {
    this.nc.subscribe(`${this.inbox}.*`, {
      callback: (err, msg) => {
        if (!err) this.replied(msg);
      },
    });
    void this.watchStatus();
  }

  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const nc = await connect({
      servers: options.url,
      name: options.name,
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      pingInterval: 10_000,
      // Otherwise the client captures two stack traces (Error objects) for every
      // request, for errors this bus translates into BusError anyway: measured a few
      // percent of the gateway's CPU on the prediction path (bench:overhead).
      noAsyncTraces: true,
    });
    return new NatsBus(nc);
  }

  subscribe(
    subject: string,
    handler: BusHandler,
    options: { queue?: string } = {},
  ): BusSubscription {
    subjectTokens(subject, true);
    const sub = this.nc.subscribe(subject, {
      queue: options.queue,
      callback: (err, msg) => {
        if (err) {
          this.logger.warn(`subscription ${subject}: ${err.message}`);
          return;
        }
        void this.dispatch(handler, msg);
      },
    });
    return { unsubscribe: () => sub.unsubscribe() };
  }

  publish(
    subject: string,
    data: Uint8Array,
    headers?: Readonly<Record<string, string>>,
  ): void {
    assertPlainSubject(subject);
    this.assertSize(data);
    this.nc.publish(
      subject,
      data,
      headers ? { headers: toNatsHeaders(headers) } : undefined,
    );
  }

  request(
    subject: string,
    data: Uint8Array,
    options: RequestOptions,
  ): Promise<BusMessage> {
    try {
      assertPlainSubject(subject);
      this.assertSize(data);
      if (this.nc.isClosed())
        throw new BusError('CLOSED', 'the NATS connection is closed');
      if (!this.connected) throw disconnected(subject);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<BusMessage>((resolve, reject) => {
      const token = String(this.nextToken++);
      const timer = setTimeout(() => {
        if (this.pending.delete(token))
          reject(
            new BusError(
              'TIMEOUT',
              `no reply on ${subject} within ${options.timeoutMs} ms`,
            ),
          );
      }, options.timeoutMs);
      this.pending.set(token, { subject, resolve, reject, timer });
      try {
        this.nc.publish(subject, data, {
          reply: `${this.inbox}.${token}`,
          ...(options.headers
            ? { headers: toNatsHeaders(options.headers) }
            : {}),
        });
      } catch (e) {
        this.settle(token)?.reject(translate(e, subject, options.timeoutMs));
      }
    });
  }

  maxPayloadBytes(): number {
    return this.nc.info?.max_payload ?? 1024 * 1024;
  }

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  isConnected(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  async close(): Promise<void> {
    for (const token of [...this.pending.keys()])
      this.settle(token)?.reject(
        new BusError('CLOSED', 'the NATS connection is closed'),
      );
    if (this.nc.isClosed()) return;
    // Draining needs the server (it flushes); without one there is nothing to drain.
    if (!this.connected) return this.nc.close();
    await this.nc.drain().catch(() => this.nc.close());
  }

  /**
   * A reply to one of this bus's requests. The server answers a request nobody
   * subscribes to with an empty 503 status message (no responders).
   */
  private replied(msg: Msg): void {
    const p = this.settle(msg.subject.slice(this.inbox.length + 1));
    if (!p) return;
    if (msg.data.length === 0 && msg.headers?.code === 503)
      p.reject(new BusError('NO_RESPONDERS', `no responders for ${p.subject}`));
    else
      p.resolve({
        subject: p.subject,
        data: msg.data,
        headers: fromNatsHeaders(msg.headers),
      });
  }

  /** Takes a request off the books (null when it was settled already). */
  private settle(token: string): PendingRequest | null {
    const p = this.pending.get(token);
    if (!p) return null;
    this.pending.delete(token);
    clearTimeout(p.timer);
    return p;
  }

  private async dispatch(handler: BusHandler, msg: Msg): Promise<void> {
    const reply = await Promise.resolve(
      handler({
        subject: msg.subject,
        data: msg.data,
        headers: fromNatsHeaders(msg.headers),
      }),
    ).catch((e: unknown) => {
      this.logger.error(
        `handler for ${msg.subject} threw: ${e instanceof Error ? e.message : String(e)}`,
        e instanceof Error ? e.stack : undefined,
      );
      return undefined;
    });
    if (!reply || !msg.reply) return;
    try {
      msg.respond(
        reply.data,
        reply.headers ? { headers: toNatsHeaders(reply.headers) } : undefined,
      );
    } catch (e) {
      this.logger.error(
        `reply on ${msg.subject} failed: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect') {
        this.connected = false;
        const abandoned = [...this.pending.keys()];
        for (const token of abandoned) {
          const p = this.settle(token);
          p?.reject(disconnected(p.subject));
        }
        this.logger.warn(
          `disconnected from NATS (${String(status.data)}); reconnecting${abandoned.length ? `; ${abandoned.length} waiting request(s) failed` : ''}`,
        );
      } else if (status.type === 'reconnect') {
        this.connected = true;
        this.logger.log(`reconnected to NATS (${String(status.data)})`);
        for (const listener of [...this.reconnectListeners]) {
          try {
            listener();
          } catch (e) {
            this.logger.error(
              `a reconnect listener failed: ${e instanceof Error ? e.message : String(e)}`,
            );
          }
        }
      }
    }
  }

  private assertSize(data: Uint8Array): void {
    const max = this.maxPayloadBytes();
    if (data.byteLength > max) {
      throw new BusError(
        'PAYLOAD_TOO_LARGE',
        `message of ${data.byteLength} bytes exceeds the NATS max_payload of ${max}`,
      );
    }
  }
}

interface PendingRequest {
  readonly subject: string;
  resolve(reply: BusMessage): void;
  reject(error: Error): void;
  readonly timer: NodeJS.Timeout;
}

function disconnected(subject: string): BusError {
  return new BusError(
    'DISCONNECTED',
    `the message bus is disconnected (NATS unreachable); ${subject} was not sent`,
  );
}

function translate(e: unknown, subject: string, timeoutMs: number): Error {
  if (e instanceof NatsError) {
    switch (e.code) {
      case ErrorCode.NoResponders:
        return new BusError('NO_RESPONDERS', `no responders for ${subject}`);
      case ErrorCode.Timeout:
        return new BusError(
          'TIMEOUT',
          `no reply on ${subject} within ${timeoutMs} ms`,
        );
      case ErrorCode.ConnectionClosed:
      case ErrorCode.ConnectionDraining:
        return new BusError('CLOSED', 'the NATS connection is closed');
      case ErrorCode.MaxPayloadExceeded:
        return new BusError('PAYLOAD_TOO_LARGE', e.message);
      default:
        return e;
    }
  }
  return e instanceof Error ? e : new Error(String(e));
}

function toNatsHeaders(h: Readonly<Record<string, string>>): MsgHdrs {
  const out = natsHeaders();
  for (const [k, v] of Object.entries(h)) out.set(k, v);
  return out;
}

function fromNatsHeaders(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const k of h.keys()) out[k] = h.get(k);
  return out;
}
