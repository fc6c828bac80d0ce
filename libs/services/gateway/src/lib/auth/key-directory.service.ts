import {
  Injectable,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { createHash } from 'node:crypto';

import { ApiKeyRecord, ApiKeys } from '@portfolio/contracts';
import { BusSubscription, Messaging } from '@portfolio/messaging';

/** How long a key found (or not) is believed without asking the registry again. */
export const KEY_TTL_MS = 30_000;
export const UNKNOWN_KEY_TTL_MS = 5_000;
/** Entries kept at most: unknown keys sent at random must not grow the map forever. */
const MAX_ENTRIES = 10_000;

interface Entry {
  readonly key: ApiKeyRecord | null;
  readonly until: number;
}

export function keyDigest(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * The registry's API keys as the gateway sees them, by SHA-256: looked up once, then
 * kept for KEY_TTL_MS. A key created or revoked anywhere is dropped at once through
 * `registry.key.changed.v1`; were that event missed (the bus down meanwhile), the
 * TTL bounds how long a revoked key still works, and everything is forgotten when the
 * bus comes back.
 */
@Injectable()
export class KeyDirectory implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<ApiKeyRecord | null>>();
  private subscription: BusSubscription | null = null;
  private stopReconnects: (() => void) | null = null;

  constructor(private readonly messaging: Messaging) {}

  onApplicationBootstrap(): void {
    this.subscription = this.messaging.on(ApiKeys.changed, (e) => {
      this.entries.delete(e.key_sha256);
    });
    // A revocation published while the bus was away was missed: ask again for every key.
    this.stopReconnects = this.messaging.bus.onReconnect(() =>
      this.entries.clear(),
    );
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
    this.subscription = null;
    this.stopReconnects?.();
    this.stopReconnects = null;
  }

  /**
   * Forgets a key by id: the gateway that revoked it does so at once (the registry's
   * event may arrive after the revocation's answer, and a client may use the key in
   * between); other gateways on the event.
   */
  forget(id: string): void {
    for (const [digest, entry] of this.entries)
      if (entry.key?.id === id) this.entries.delete(digest);
  }

  /** The valid key with this digest, or null. Concurrent lookups of one digest share a call. */
  async find(digest: string, nowMs = Date.now()): Promise<ApiKeyRecord | null> {
    const cached = this.entries.get(digest);
    if (cached && cached.until > nowMs) return cached.key;
    const running = this.pending.get(digest);
    if (running) return running;
    const lookup = this.messaging
      .call(ApiKeys.lookup, { key_sha256: digest })
      .then(({ key }) => {
        if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
        this.entries.set(digest, {
          key,
          until: nowMs + (key ? KEY_TTL_MS : UNKNOWN_KEY_TTL_MS),
        });
        return key;
      })
      .finally(() => this.pending.delete(digest));
    this.pending.set(digest, lookup);
    return lookup;
  }
}
