/**
 * The transport under every service: NATS in the distributed mode, an in-process
 * bus in the standalone mode. Both honour the same contract, so services cannot tell
 * them apart:
 * - subjects are dot-separated tokens; subscriptions may use `*` (one token) and `>`
 *   (the rest, last token only);
 * - subscribers sharing a `queue` name split the messages: one of them gets each;
 * - `request` resolves with the first reply, rejects with BusError `NO_RESPONDERS` at
 *   once when nobody listens, and with `TIMEOUT` after `timeoutMs`;
 * - a handler that returns nothing sends no reply (the requester times out), which is
 *   how NATS behaves too;
 * - while the bus has lost its server (NATS down, reconnecting), `request` rejects at
 *   once with `DISCONNECTED`, and so does every request still waiting when the
 *   connection drops: its reply could not come back anyway. The in-process bus never
 *   disconnects.
 * Payloads are raw bytes; receivers must treat them as read-only (the in-process bus
 * hands the same buffer to the receiver, without copying).
 *
 * `attachment` (requests and their replies only): an object the in-process bus hands
 * to the receiver by reference along with `data`, so that two services in one process
 * can skip encoding what they exchange (the standalone prediction path hands tensors
 * over as they are). NATS never carries it: the receiver sees `undefined`. A sender
 * may therefore leave `data` empty only when its bus is `in-process`, and a receiver
 * must read `data` when no attachment came. Attachments are read-only for receivers.
 */
export interface BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly attachment?: unknown;
}

export interface BusReply {
  readonly data: Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
  readonly attachment?: unknown;
}

export type BusHandler = (
  message: BusMessage,
) => Promise<BusReply | void> | BusReply | void;

export interface BusSubscription {
  unsubscribe(): void;
}

export interface RequestOptions {
  readonly timeoutMs: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Handed over by the in-process bus only (see BusMessage). */
  readonly attachment?: unknown;
}

export interface MessageBus {
  readonly kind: 'nats' | 'in-process';
  request(
    subject: string,
    data: Uint8Array,
    options: RequestOptions,
  ): Promise<BusMessage>;
  publish(
    subject: string,
    data: Uint8Array,
    headers?: Readonly<Record<string, string>>,
  ): void;
  subscribe(
    subject: string,
    handler: BusHandler,
    options?: { queue?: string },
  ): BusSubscription;
  /** The largest payload one message may carry (NATS server's max_payload). */
  maxPayloadBytes(): number;
  isConnected(): boolean;
  /**
   * Calls `listener` each time the bus is connected again after losing its server:
   * whatever was published meanwhile (events that invalidate caches, say) was missed.
   * Returns a function that stops it. The in-process bus never loses anything.
   */
  onReconnect(listener: () => void): () => void;
  close(): Promise<void>;
}

export type BusErrorCode =
  | 'NO_RESPONDERS'
  | 'TIMEOUT'
  | 'CLOSED'
  | 'DISCONNECTED'
  | 'PAYLOAD_TOO_LARGE'
  | 'INVALID_SUBJECT';

export class BusError extends Error {
  override readonly name = 'BusError';

  constructor(
    readonly code: BusErrorCode,
    message: string,
  ) {
    super(message);
  }
}
