import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, IsNull } from 'typeorm';

import {
  ApiKeyRecord,
  ApiKeyScope,
  CreateApiKeyRequest,
  PortfolioError,
} from '@portfolio/contracts';

import { recordAudit } from './audit-log';
import { DbGate } from './database/db-gate';
import { ApiKeyEntity } from './entities/api-key.entity';
import { DB_GATE } from './model-registry.service';

/** PostgreSQL's unique_violation. */
const UNIQUE_VIOLATION = '23505';

/**
 * API keys by their SHA-256. The registry never sees a key: the gateway makes it, shows
 * it once, and sends its hash here; lookups come by hash too.
 */
@Injectable()
export class ApiKeysService {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(DB_GATE) private readonly gate: DbGate,
  ) {}

  async create(req: CreateApiKeyRequest): Promise<ApiKeyRecord> {
    const scopes = [...new Set(req.scopes)];
    try {
      const saved = await this.gate.run('key_create', () =>
        this.dataSource.transaction(async (tx) => {
          const repo = tx.getRepository(ApiKeyEntity);
          const key = await repo.save(
            repo.create({
              id: randomUUID(),
              name: req.name,
              prefix: req.prefix,
              keySha256: req.key_sha256,
              scopes,
              rateLimitRps: req.rate_limit?.requests_per_second ?? null,
              rateLimitBurst: req.rate_limit?.burst ?? null,
              createdBy: req.created_by ?? null,
              revokedAt: null,
            }),
          );
          await recordAudit(tx, {
            actor: req.created_by,
            action: 'key.create',
            details: { key_id: key.id, name: key.name, scopes },
          });
          return key;
        }),
      );
      return toRecord(saved);
    } catch (e) {
      // Only a collision of 256-bit random keys, or a client resending one: refuse it.
      if (
        (e as { driverError?: { code?: string } }).driverError?.code ===
        UNIQUE_VIOLATION
      )
        throw new PortfolioError(
          'INVALID_REQUEST',
          'a key with the same hash already exists',
        );
      throw e;
    }
  }

  /** Every key, the revoked ones included, oldest first. */
  async list(): Promise<ApiKeyRecord[]> {
    const rows = await this.gate.run('key_list', () =>
      this.dataSource
        .getRepository(ApiKeyEntity)
        .find({ order: { createdAt: 'ASC', id: 'ASC' } }),
    );
    return rows.map(toRecord);
  }

  /** Revokes the key (again is a no-op that answers the same record), with its hash. */
  async revoke(
    id: string,
    actor?: string,
  ): Promise<{ key: ApiKeyRecord; keySha256: string }> {
    return this.gate.run('key_revoke', () =>
      this.dataSource.transaction(async (tx) => {
        const repo = tx.getRepository(ApiKeyEntity);
        const key = await repo.findOne({
          where: { id },
          lock: { mode: 'pessimistic_write' },
        });
        if (!key)
          throw new PortfolioError('KEY_NOT_FOUND', `no API key has id ${id}`, {
            key_id: id,
          });
        if (key.revokedAt === null) {
          key.revokedAt = new Date();
          await repo.save(key);
          await recordAudit(tx, {
            actor,
            action: 'key.revoke',
            details: { key_id: key.id, name: key.name },
          });
        }
        return { key: toRecord(key), keySha256: key.keySha256 };
      }),
    );
  }

  /** The valid key with this hash, or null (unknown or revoked). */
  async lookup(keySha256: string): Promise<ApiKeyRecord | null> {
    const key = await this.gate.run('key_lookup', () =>
      this.dataSource
        .getRepository(ApiKeyEntity)
        .findOne({ where: { keySha256, revokedAt: IsNull() } }),
    );
    return key ? toRecord(key) : null;
  }
}

function toRecord(e: ApiKeyEntity): ApiKeyRecord {
  return {
    id: e.id,
    name: e.name,
    prefix: e.prefix,
    scopes: e.scopes as ApiKeyScope[],
    rate_limit:
      e.rateLimitRps !== null && e.rateLimitBurst !== null
        ? { requests_per_second: e.rateLimitRps, burst: e.rateLimitBurst }
        : null,
    created_at: e.createdAt.toISOString(),
    created_by: e.createdBy,
    revoked_at: e.revokedAt ? e.revokedAt.toISOString() : null,
  };
}
