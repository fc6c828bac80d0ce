import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';

import { CacheManager, CacheModelEvent } from '@portfolio/contracts';
import { BusSubscription, Messaging } from '@portfolio/messaging';

import { Ring } from './ring';

/** Events kept for a page opened late, or a stream that reconnects. */
export const MODEL_EVENTS_KEPT = 500;

/** A cache-manager event as this gateway numbered it (`<instance>-<seq>`). */
export type LoggedModelEvent = CacheModelEvent & { readonly id: string };

/**
 * The cache-manager's model events (`cache.model.event.v1`: loads, unloads and failed
 * loads, each with its reason), every one of them, as they reach this gateway: the web
 * console's live timeline and `GET /v1/models/events`. Subscribed without a queue
 * group, so every gateway sees every event (a console talks to whichever gateway it
 * reaches). The last MODEL_EVENTS_KEPT are kept, numbered per gateway: an id names its
 * gateway (`instance`), so a stream that reconnects to the same gateway with
 * `Last-Event-ID` gets only what it missed, and one that reaches another gateway gets
 * all that one holds.
 */
@Injectable()
export class ModelEventLog implements OnModuleInit, OnModuleDestroy {
  /** This gateway's process, in event ids. */
  readonly instance = randomBytes(4).toString('hex');
  private readonly ring = new Ring<{
    seq: number;
    event: LoggedModelEvent;
  }>(MODEL_EVENTS_KEPT);
  private seq = 0;
  private readonly listeners = new Set<(event: LoggedModelEvent) => void>();
  private subscription: BusSubscription | null = null;

  constructor(private readonly messaging: Messaging) {}

  /** At init rather than bootstrap: the loads that start with the app are in the log too. */
  onModuleInit(): void {
    this.subscription = this.messaging.on(CacheManager.modelEvent, (e) => {
      this.add(e);
    });
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
    this.subscription = null;
    this.listeners.clear();
  }

  add(event: CacheModelEvent): LoggedModelEvent {
    const seq = ++this.seq;
    const logged: LoggedModelEvent = {
      id: `${this.instance}-${seq}`,
      ...event,
    };
    this.ring.push({ seq, event: logged });
    for (const listener of this.listeners) listener(logged);
    return logged;
  }

  /**
   * The events kept, oldest first; with `lastEventId` (an id this gateway gave), only
   * those after it. An id of another gateway, or one that is not an id, gets them all.
   */
  since(lastEventId?: string): LoggedModelEvent[] {
    const held = this.ring.toArray();
    const m = /^([0-9a-f]+)-([1-9][0-9]{0,15})$/.exec(lastEventId ?? '');
    const after = m && m[1] === this.instance ? Number(m[2]) : 0;
    return held.filter((e) => e.seq > after).map((e) => e.event);
  }

  /** Calls `listener` with each event from now on, until the returned function is called. */
  listen(listener: (event: LoggedModelEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  get listening(): number {
    return this.listeners.size;
  }
}
