import { randomUUID } from 'node:crypto';

import {
  ApiKeyRecord,
  ApiKeys,
  ApiKeyScope,
  PortfolioError,
} from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';

import { keyDigest } from './key-directory.service';

/** The bootstrap admin key of the auth specs' gateways. */
export const ADMIN_KEY = 'bootstrap-admin-key-0123456789';

/** A scope that does not grant `needed` (admin grants everything). */
export const WRONG_SCOPE: Record<ApiKeyScope, ApiKeyScope> = {
  predict: 'read',
  read: 'predict',
  admin: 'read',
};

/** The registry's key store, in memory, on the peers' side of the bus. */
export class FakeKeys {
  readonly records = new Map<string, ApiKeyRecord & { hash: string }>();

  constructor(private readonly m: Messaging) {
    m.serve(ApiKeys.create, (req) => {
      const key: ApiKeyRecord = {
        id: randomUUID(),
        name: req.name,
        prefix: req.prefix,
        scopes: req.scopes,
        rate_limit: req.rate_limit ?? null,
        created_at: new Date().toISOString(),
        created_by: req.created_by ?? null,
        revoked_at: null,
      };
      this.records.set(key.id, { ...key, hash: req.key_sha256 });
      return { key };
    });
    m.serve(ApiKeys.list, () => ({
      keys: [...this.records.values()].map(({ hash: _, ...k }) => k),
    }));
    m.serve(ApiKeys.revoke, (req) => {
      const r = this.records.get(req.id);
      if (!r)
        throw new PortfolioError(
          'KEY_NOT_FOUND',
          `no API key has id ${req.id}`,
        );
      r.revoked_at ??= new Date().toISOString();
      m.emit(ApiKeys.changed, {
        id: r.id,
        key_sha256: r.hash,
        change: 'revoked',
      });
      const { hash: _, ...key } = r;
      return { key };
    });
    m.serve(ApiKeys.lookup, (req) => {
      const r = [...this.records.values()].find(
        (k) => k.hash === req.key_sha256 && k.revoked_at === null,
      );
      if (!r) return { key: null };
      const { hash: _, ...key } = r;
      return { key };
    });
  }

  /** Stores a key with these scopes, as /admin/keys would, and returns the key. */
  add(
    scopes: ApiKeyScope[],
    rateLimit: ApiKeyRecord['rate_limit'] = null,
  ): string {
    const key = `pf_test_${randomUUID()}`;
    const id = randomUUID();
    this.records.set(id, {
      id,
      name: `key-${scopes.join('-')}`,
      prefix: key.slice(0, 8),
      scopes,
      rate_limit: rateLimit,
      created_at: new Date().toISOString(),
      created_by: null,
      revoked_at: null,
      hash: keyDigest(key),
    });
    return key;
  }
}
