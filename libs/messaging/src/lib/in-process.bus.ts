import {
  BusError,
  BusHandler,
  BusMessage,
  BusReply,
  BusSubscription,
  MessageBus,
  RequestOptions,
} from './bus';
import { subjectMatches, subjectTokens } from './subject.util';

const MAX_CACHED_SUBJECTS = 1024;

interface Subscription {
  readonly pattern: string[];
  readonly queue: string | null;
  readonly handler: BusHandler;
}

/**
 * The standalone mode's bus: every service in one process, messages handed over by
 * reference. Delivery is always asynchronous (next macrotask), as on a network, so a
 * handler never runs inside its caller's stack.
 */
export class InProcessBus implements MessageBus {
  readonly kind = 'in-process' as const;
  private readonly subscriptions = new Set<Subscription>();
  private readonly queueCursors = new Map<string, number>();
  /**
   * Who listens on each subject asked before: its plain subscribers and its queue
   * groups' members. Matching every subscription's pattern for every message was a
   * measurable share of a standalone prediction; any subscribe or unsubscribe clears it.
   */
  private readonly matches = new Map<
    string,
    { plain: Subscription[]; groups: [string, Subscription[]][] }
  >();
  private closed = false;

  constructor(private readonly maxPayload = 64 * 1024 * 1024) {}

  subscribe(
    subject: string,
    handler: BusHandler,
    options: { queue?: string } = {},
  ): BusSubscription {
    this.assertOpen();
    const sub: Subscription = {
      pattern: subjectTokens(subject, true),
      queue: options.queue ?? null,
      handler,
    };
    this.subscriptions.add(sub);
    this.matches.clear();
    return {
      unsubscribe: () => {
        this.subscriptions.delete(sub);
        this.matches.clear();
      },
    };
  }

  publish(
    subject: string,
    data: Uint8Array,
    headers: Readonly<Record<string, string>> = {},
  ): void {
    this.assertOpen();
    this.assertSize(data);
    const message: BusMessage = { subject, data, headers };
    for (const sub of this.route(subject)) {
      setImmediate(() => void this.invoke(sub, message).catch(() => undefined));
    }
  }

  request(
    subject: string,
    data: Uint8Array,
    options: RequestOptions,
  ): Promise<BusMessage> {
    if (this.closed)
      return Promise.reject(new BusError('CLOSED', 'the bus is closed'));
    try {
      this.assertSize(data);
    } catch (e) {
      return Promise.reject(e);
    }
    const targets = this.route(subject);
    if (targets.length === 0) {
      return Promise.reject(
        new BusError('NO_RESPONDERS', `no responders for ${subject}`),
      );
    }
    const message: BusMessage = {
      subject,
      data,
      headers: options.headers ?? {},
      ...(options.attachment !== undefined
        ? { attachment: options.attachment }
        : {}),
    };
    return new Promise<BusMessage>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(
          new BusError(
            'TIMEOUT',
            `no reply on ${subject} within ${options.timeoutMs} ms`,
          ),
        );
      }, options.timeoutMs);
      for (const sub of targets) {
        setImmediate(() => {
          this.invoke(sub, message).then(
            (reply) => {
              if (!reply || settled) return;
              settled = true;
              clearTimeout(timer);
              resolve({
                subject,
                data: reply.data,
                headers: reply.headers ?? {},
                ...(reply.attachment !== undefined
                  ? { attachment: reply.attachment }
                  : {}),
              });
            },
            // A handler that throws sends no reply, as a crashed NATS responder would not.
            () => undefined,
          );
        });
      }
    });
  }

  maxPayloadBytes(): number {
    return this.maxPayload;
  }

  isConnected(): boolean {
    return !this.closed;
  }

  /** Never called: nothing is ever missed in one process. */
  onReconnect(): () => void {
    return () => undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscriptions.clear();
    this.matches.clear();
  }

  private async invoke(
    sub: Subscription,
    message: BusMessage,
  ): Promise<BusReply | void> {
    if (!this.subscriptions.has(sub)) return undefined;
    return sub.handler(message);
  }

  /** Every plain subscriber, plus one member (round robin) of each queue group. */
  private route(subject: string): Subscription[] {
    const { plain, groups } = this.match(subject);
    const targets = [...plain];
    for (const [queue, members] of groups) {
      const cursor = this.queueCursors.get(queue) ?? 0;
      this.queueCursors.set(queue, cursor + 1);
      targets.push(members[cursor % members.length]);
    }
    return targets;
  }

  private match(subject: string): {
    plain: Subscription[];
    groups: [string, Subscription[]][];
  } {
    const known = this.matches.get(subject);
    if (known) return known;
    const tokens = subjectTokens(subject, false);
    const plain: Subscription[] = [];
    const groups = new Map<string, Subscription[]>();
    for (const sub of this.subscriptions) {
      if (!subjectMatches(sub.pattern, tokens)) continue;
      if (sub.queue === null) plain.push(sub);
      else groups.set(sub.queue, [...(groups.get(sub.queue) ?? []), sub]);
    }
    const found = { plain, groups: [...groups] };
    // Subjects name services, nodes and instances: few. A bound all the same.
    if (this.matches.size >= MAX_CACHED_SUBJECTS) this.matches.clear();
    this.matches.set(subject, found);
    return found;
  }

  private assertOpen(): void {
    if (this.closed) throw new BusError('CLOSED', 'the bus is closed');
  }

  private assertSize(data: Uint8Array): void {
    if (data.byteLength > this.maxPayload) {
      throw new BusError(
        'PAYLOAD_TOO_LARGE',
        `message of ${data.byteLength} bytes exceeds the bus limit of ${this.maxPayload}`,
      );
    }
  }
}
