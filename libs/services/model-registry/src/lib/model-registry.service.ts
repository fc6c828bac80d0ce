import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import {
  AliasMap,
  aliasTarget,
  assertEngineSettingsFor,
  CreateModelRequest,
  CreateModelResponse,
  CreateVersionRequest,
  CreateVersionResponse,
  DEFAULT_ALIAS,
  DeleteAliasRequest,
  DeleteAliasResponse,
  DeleteModelRequest,
  DeleteModelResponse,
  DeleteVersionRequest,
  DeleteVersionResponse,
  GetModelResponse,
  ListAuditRequest,
  ListAuditResponse,
  ListModelsRequest,
  ListModelsResponse,
  ModelFormat,
  ModelRecord,
  PortfolioError,
  ReferencedArtifactsRequest,
  ReferencedArtifactsResponse,
  ResolveVersionRequest,
  ResolveVersionResponse,
  SetAliasRequest,
  SetAliasResponse,
  UpdateModelRequest,
  UpdateModelResponse,
  UpdateVersionRequest,
  UpdateVersionResponse,
  VersionMeasuredEvent,
} from '@portfolio/contracts';

import { readAudit, recordAudit } from './audit-log';
import { DbGate } from './database/db-gate';
import { ModelVersionEntity } from './entities/model-version.entity';
import { ModelEntity } from './entities/model.entity';
import { VersionMeasurementEntity } from './entities/version-measurement.entity';
import {
  MODEL_RECORD_SQL,
  toModelRecord,
  toVersionRecord,
} from './registry.mapper';

export const DB_GATE = Symbol('DB_GATE');

/**
 * Models and their immutable versions. Version numbers are assigned per model, in
 * order, under a row lock on the model, so concurrent uploads get distinct numbers
 * and a version row exists only once its artifact is stored and valid.
 */
@Injectable()
export class ModelRegistryService {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(DB_GATE) private readonly gate: DbGate,
  ) {}

  /** Resolves when the database answers; SERVICE_UNAVAILABLE when it does not (health). */
  async ping(): Promise<void> {
    await this.gate.run('ping', () => this.dataSource.query('SELECT 1'));
  }

  createModel(req: CreateModelRequest): Promise<CreateModelResponse> {
    // Authoritative without an estimate of its own is a valid update of a model that has
    // one, never a valid new model.
    const borrowsEstimate =
      (req.memory_estimate_authoritative ?? false) &&
      req.memory_estimate_bytes == null;
    if (borrowsEstimate && req.if_exists !== 'update')
      throw authoritativeWithoutEstimate(req.id);
    return this.gate.run('create_model', () =>
      this.dataSource.transaction(async (tx) => {
        // Not even attempted when it borrows: PostgreSQL checks a row's constraints
        // before it sees the conflict that would ignore it.
        const inserted = borrowsEstimate
          ? { raw: [] }
          : await tx
              .createQueryBuilder()
              .insert()
              .into(ModelEntity)
              .values({
                id: req.id,
                format: req.format,
                description: req.description ?? null,
                memoryEstimateBytes: req.memory_estimate_bytes ?? null,
                memoryEstimateAuthoritative:
                  req.memory_estimate_authoritative ?? false,
                preload: req.preload ?? false,
                pinned: req.pinned ?? false,
                ttlMs: req.ttl_ms ?? null,
                labels: req.labels ?? {},
                maxBatchSize: req.max_batch_size ?? null,
                maxQueueDelayMs: req.max_queue_delay_ms ?? null,
                engine: req.engine ?? null,
                processing: req.processing ?? null,
              })
              .orIgnore()
              .returning('id')
              .execute();
        const created = inserted.raw.length > 0;
        const model = await this.findLockedModel(tx, req.id);
        // Only a borrowed estimate finds nothing here: nothing was inserted.
        if (!model) throw authoritativeWithoutEstimate(req.id);
        if (created) {
          await recordAudit(tx, {
            actor: req.actor,
            action: 'model.create',
            model_id: req.id,
            details: { format: req.format },
          });
          return { model: toModelRecord(model), created: true };
        }

        if (req.if_exists !== 'update') {
          throw new PortfolioError(
            'MODEL_EXISTS',
            `model "${req.id}" is already registered`,
            { model_id: req.id },
          );
        }
        if (model.format !== req.format) {
          throw new PortfolioError(
            'MODEL_EXISTS',
            `model "${req.id}" is registered with format "${model.format}", not "${req.format}"`,
            { model_id: req.id, format: model.format },
          );
        }
        const updated = await this.applySettings(tx, model, req);
        return { model: toModelRecord(updated), created: false };
      }),
    );
  }

  /**
   * Changes a model's settings (those given; `null` clears a nullable one). MODEL_NOT_FOUND
   * when it does not exist; the answer says which settings changed (none: nothing was
   * written).
   */
  updateModel(req: UpdateModelRequest): Promise<UpdateModelResponse> {
    return this.gate.run('update_model', () =>
      this.dataSource.transaction(async (tx) => {
        const model = await this.lockModel(tx, req.id);
        const before = toModelRecord(model);
        const after = toModelRecord(await this.applySettings(tx, model, req));
        const changed = SETTING_FIELDS.filter(
          (f) => JSON.stringify(before[f]) !== JSON.stringify(after[f]),
        );
        return { model: after, changed };
      }),
    );
  }

  /**
   * The settings `req` gives, applied to a locked model (an update that leaves the
   * authoritative rule broken is refused), and written to the audit log when anything
   * changed. Resolves to the model as it is now.
   */
  private async applySettings(
    tx: EntityManager,
    model: ModelEntity,
    req: UpdateModelRequest | CreateModelRequest,
  ): Promise<ModelEntity> {
    const changes: Partial<ModelEntity> = {};
    if (req.description !== undefined) changes.description = req.description;
    if (req.memory_estimate_bytes !== undefined)
      changes.memoryEstimateBytes = req.memory_estimate_bytes;
    if (req.memory_estimate_authoritative !== undefined)
      changes.memoryEstimateAuthoritative = req.memory_estimate_authoritative;
    if (req.preload !== undefined) changes.preload = req.preload;
    if (req.pinned !== undefined) changes.pinned = req.pinned;
    if (req.ttl_ms !== undefined) changes.ttlMs = req.ttl_ms;
    if (req.labels !== undefined) changes.labels = req.labels;
    if (req.max_batch_size !== undefined)
      changes.maxBatchSize = req.max_batch_size;
    if (req.max_queue_delay_ms !== undefined)
      changes.maxQueueDelayMs = req.max_queue_delay_ms;
    if (req.engine !== undefined) {
      assertEngineSettingsFor(model.format as ModelFormat, req.engine);
      changes.engine = req.engine;
    }
    if (req.processing !== undefined) changes.processing = req.processing;
    const differs = Object.entries(changes).some(
      ([k, v]) =>
        JSON.stringify(model[k as keyof ModelEntity]) !== JSON.stringify(v),
    );
    if (!differs) return model;
    // An update may drop the estimate an authoritative model stands on, or mark
    // the stored estimate authoritative: the rule holds for the result.
    assertAuthoritativeEstimate(
      changes.memoryEstimateAuthoritative ?? model.memoryEstimateAuthoritative,
      changes.memoryEstimateBytes !== undefined
        ? changes.memoryEstimateBytes
        : model.memoryEstimateBytes,
      req.id,
    );
    await tx.update(ModelEntity, { id: req.id }, changes);
    await recordAudit(tx, {
      actor: req.actor,
      action: 'model.update',
      model_id: req.id,
      details: {
        changed: Object.keys(changes).map(
          (k) => RECORD_FIELD[k as keyof typeof RECORD_FIELD],
        ),
      },
    });
    return this.lockModel(tx, req.id);
  }

  getModel(id: string): Promise<GetModelResponse> {
    return this.gate.run('get_model', async () => {
      const model = await this.dataSource.manager.findOneBy(ModelEntity, {
        id,
      });
      if (!model) throw modelNotFound(id);
      const versions = await this.dataSource.manager.find(ModelVersionEntity, {
        where: { modelId: id },
        order: { version: 'ASC' },
      });
      const measurements = await this.dataSource.manager.findBy(
        VersionMeasurementEntity,
        { modelId: id },
      );
      const byVersion = new Map(measurements.map((x) => [x.version, x]));
      return {
        model: toModelRecord(model),
        versions: versions.map((v) =>
          toVersionRecord(v, byVersion.get(v.version) ?? null),
        ),
        aliases: await this.aliasesOf(this.dataSource.manager, id),
      };
    });
  }

  /**
   * See ListModelsRequest: keyset pages by id, filtered by labels in the database (GIN
   * index models_labels). The database builds the records (MODEL_RECORD_SQL) and sends
   * the page as one JSON text: the whole catalogue of 10,000 models as rows hydrated
   * into entities took more than twice as long on PGlite (`npm run bench:registry`).
   */
  listModels(req: ListModelsRequest = {}): Promise<ListModelsResponse> {
    return this.gate.run('list_models', async () => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (req.after !== undefined) {
        params.push(req.after);
        where.push(`m.id > $${params.length}`);
      }
      if (req.labels && Object.keys(req.labels).length > 0) {
        params.push(JSON.stringify(req.labels));
        where.push(`m.labels @> $${params.length}::jsonb`);
      }
      if (req.limit !== undefined) params.push(req.limit + 1);
      // The records are built from the page's rows only: built in the inner query, they
      // would be built for every row that matches, before the sort and the limit.
      const rows: { models: string }[] = await this.dataSource.query(
        `SELECT coalesce(json_agg(${MODEL_RECORD_SQL} ORDER BY m.id), '[]')::text AS models
           FROM (SELECT * FROM models m
                  ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                  ORDER BY m.id
                  ${req.limit !== undefined ? `LIMIT $${params.length}` : ''}) AS m`,
        params,
      );
      const models = JSON.parse(rows[0].models) as ModelRecord[];
      const more = req.limit !== undefined && models.length > req.limit;
      const page = more ? models.slice(0, req.limit) : models;
      return { models: page, next: more ? page[page.length - 1].id : null };
    });
  }

  createVersion(req: CreateVersionRequest): Promise<CreateVersionResponse> {
    return this.gate.run('create_version', () =>
      this.dataSource.transaction(async (tx) => {
        const model = await tx
          .createQueryBuilder(ModelEntity, 'm')
          .setLock('pessimistic_write')
          .where('m.id = :id', { id: req.model_id })
          .getOne();
        if (!model) throw modelNotFound(req.model_id);
        if (model.format !== req.format) {
          throw new PortfolioError(
            'INVALID_REQUEST',
            `model "${model.id}" has format "${model.format}"; a "${req.format}" artifact cannot be one of its versions`,
          );
        }
        if (req.reuse_if_same_sha256) {
          const existing = await tx.findOne(ModelVersionEntity, {
            where: {
              modelId: req.model_id,
              sha256: req.sha256,
              status: 'ready',
            },
            order: { version: 'DESC' },
          });
          if (existing) {
            const measured = await tx.findOneBy(VersionMeasurementEntity, {
              modelId: existing.modelId,
              version: existing.version,
            });
            return {
              version: toVersionRecord(existing, measured),
              created: false,
            };
          }
        }
        // Under the model's row lock: concurrent uploads count on one after the other.
        const number = model.lastVersion + 1;
        await tx.query(`UPDATE models SET last_version = $2 WHERE id = $1`, [
          req.model_id,
          number,
        ]);
        const entity = tx.create(ModelVersionEntity, {
          modelId: req.model_id,
          version: number,
          format: req.format,
          artifactUri: req.artifact_uri,
          sha256: req.sha256,
          sizeBytes: req.size_bytes,
          signature: req.signature,
          status: 'ready',
          createdBy: req.actor ?? null,
        });
        await tx.insert(ModelVersionEntity, entity);
        await recordAudit(tx, {
          actor: req.actor,
          action: 'version.create',
          model_id: req.model_id,
          version: entity.version,
          details: { sha256: req.sha256, size_bytes: req.size_bytes },
        });
        const saved = await tx.findOneByOrFail(ModelVersionEntity, {
          modelId: entity.modelId,
          version: entity.version,
        });
        return { version: toVersionRecord(saved, null), created: true };
      }),
    );
  }

  /**
   * A version by number, by alias, or the default: where alias `production` points
   * when it is set, else the highest ready version. With the model's aliases.
   */
  resolveVersion(req: ResolveVersionRequest): Promise<ResolveVersionResponse> {
    if (req.version !== undefined && req.alias !== undefined)
      throw new PortfolioError(
        'INVALID_REQUEST',
        'give version or alias, not both',
      );
    return this.gate.run('resolve_version', async () => {
      const manager = this.dataSource.manager;
      const model = await manager.findOneBy(ModelEntity, { id: req.model_id });
      if (!model) throw modelNotFound(req.model_id);
      const aliases = await this.aliasesOf(manager, req.model_id);
      let number = req.version;
      if (req.alias !== undefined) {
        number = aliasTarget(aliases, req.alias);
        if (number === undefined) throw aliasNotFound(req.model_id, req.alias);
      } else if (number === undefined)
        number = aliasTarget(aliases, DEFAULT_ALIAS);
      const version =
        number !== undefined
          ? await manager.findOneBy(ModelVersionEntity, {
              modelId: req.model_id,
              version: number,
            })
          : await manager.findOne(ModelVersionEntity, {
              where: { modelId: req.model_id, status: 'ready' },
              order: { version: 'DESC' },
            });
      if (!version) {
        throw number !== undefined
          ? new PortfolioError(
              'VERSION_NOT_FOUND',
              `model "${req.model_id}" has no version ${number}`,
              { model_id: req.model_id, version: number },
            )
          : new PortfolioError(
              'VERSION_NOT_FOUND',
              `model "${req.model_id}" has no ready version yet; upload one first`,
              { model_id: req.model_id },
            );
      }
      const measured = await manager.findOneBy(VersionMeasurementEntity, {
        modelId: version.modelId,
        version: version.version,
      });
      return {
        model: toModelRecord(model),
        version: toVersionRecord(version, measured),
        aliases,
      };
    });
  }

  /**
   * Points an alias at a ready version of its model (creating or moving it), under the
   * model's row lock so that concurrent moves of one alias are applied one after the
   * other and each reports where it found the alias.
   */
  setAlias(req: SetAliasRequest): Promise<SetAliasResponse> {
    return this.gate.run('set_alias', () =>
      this.dataSource.transaction(async (tx) => {
        await this.lockModel(tx, req.model_id);
        const version = await tx.findOneBy(ModelVersionEntity, {
          modelId: req.model_id,
          version: req.version,
        });
        if (!version)
          throw new PortfolioError(
            'VERSION_NOT_FOUND',
            `model "${req.model_id}" has no version ${req.version}`,
            { model_id: req.model_id, version: req.version },
          );
        if (version.status !== 'ready')
          throw new PortfolioError(
            'INVALID_REQUEST',
            `version ${req.version} of model "${req.model_id}" is ${version.status}; an alias points only at a ready version`,
            { model_id: req.model_id, version: req.version },
          );
        const before: { version: number }[] = await tx.query(
          `SELECT version FROM model_aliases WHERE model_id = $1 AND alias = $2`,
          [req.model_id, req.alias],
        );
        const rows: { updated_at: Date | string; updated_by: string | null }[] =
          await tx.query(
            `INSERT INTO model_aliases (model_id, alias, version, updated_by)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (model_id, alias) DO UPDATE SET
               version = EXCLUDED.version, updated_by = EXCLUDED.updated_by,
               updated_at = now()
             RETURNING updated_at, updated_by`,
            [req.model_id, req.alias, req.version, req.actor ?? null],
          );
        const previous = before.length > 0 ? Number(before[0].version) : null;
        await recordAudit(tx, {
          actor: req.actor,
          action: 'alias.set',
          model_id: req.model_id,
          version: req.version,
          details: { alias: req.alias, previous_version: previous },
        });
        return {
          alias: {
            model_id: req.model_id,
            alias: req.alias,
            version: req.version,
            previous_version: previous,
            updated_at: new Date(rows[0].updated_at).toISOString(),
            updated_by: rows[0].updated_by,
          },
        };
      }),
    );
  }

  /** ALIAS_NOT_FOUND (or MODEL_NOT_FOUND) when there is no such alias. */
  deleteAlias(req: DeleteAliasRequest): Promise<DeleteAliasResponse> {
    return this.gate.run('delete_alias', () =>
      this.dataSource.transaction(async (tx) => {
        await this.lockModel(tx, req.model_id);
        // Read, then deleted under the model's lock: TypeORM hands back a DELETE's
        // RETURNING rows in a driver-dependent shape.
        const rows: { version: number }[] = await tx.query(
          `SELECT version FROM model_aliases WHERE model_id = $1 AND alias = $2`,
          [req.model_id, req.alias],
        );
        if (rows.length === 0) throw aliasNotFound(req.model_id, req.alias);
        await tx.query(
          `DELETE FROM model_aliases WHERE model_id = $1 AND alias = $2`,
          [req.model_id, req.alias],
        );
        await recordAudit(tx, {
          actor: req.actor,
          action: 'alias.delete',
          model_id: req.model_id,
          version: Number(rows[0].version),
          details: { alias: req.alias },
        });
        return {
          model_id: req.model_id,
          alias: req.alias,
          version: Number(rows[0].version),
        };
      }),
    );
  }

  /**
   * Deprecates a ready version or restores a deprecated one (see UpdateVersionRequest).
   * A version an alias points at stays ready: the alias would otherwise lead to a
   * version nobody should start using.
   */
  updateVersion(req: UpdateVersionRequest): Promise<UpdateVersionResponse> {
    return this.gate.run('update_version', () =>
      this.dataSource.transaction(async (tx) => {
        await this.lockModel(tx, req.model_id);
        const version = await this.findVersion(tx, req.model_id, req.version);
        const measured = () =>
          tx.findOneBy(VersionMeasurementEntity, {
            modelId: req.model_id,
            version: req.version,
          });
        if (version.status === req.status)
          return {
            version: toVersionRecord(version, await measured()),
            changed: false,
          };
        if (version.status === 'failed')
          throw new PortfolioError(
            'INVALID_REQUEST',
            `version ${req.version} of model "${req.model_id}" failed; only a ready version can be deprecated`,
            { model_id: req.model_id, version: req.version },
          );
        if (req.status === 'deprecated') {
          const aliases = aliasesAt(
            await this.aliasesOf(tx, req.model_id),
            req.version,
          );
          if (aliases.length > 0)
            throw versionInUse(
              req.model_id,
              req.version,
              aliases,
              'move them before deprecating it',
            );
        }
        await tx.update(
          ModelVersionEntity,
          { modelId: req.model_id, version: req.version },
          { status: req.status },
        );
        await recordAudit(tx, {
          actor: req.actor,
          action: 'version.update',
          model_id: req.model_id,
          version: req.version,
          details: { status: req.status, previous_status: version.status },
        });
        const updated = await this.findVersion(tx, req.model_id, req.version);
        return {
          version: toVersionRecord(updated, await measured()),
          changed: true,
        };
      }),
    );
  }

  /**
   * Deletes a version and its measurement (see DeleteVersionRequest). Its number is
   * not reused; its artifact is left to garbage collection, which keeps what any
   * version still references (identical bytes share one artifact).
   */
  deleteVersion(req: DeleteVersionRequest): Promise<DeleteVersionResponse> {
    return this.gate.run('delete_version', () =>
      this.dataSource.transaction(async (tx) => {
        await this.lockModel(tx, req.model_id);
        const version = await this.findVersion(tx, req.model_id, req.version);
        const measured = await tx.findOneBy(VersionMeasurementEntity, {
          modelId: req.model_id,
          version: req.version,
        });
        const aliases = aliasesAt(
          await this.aliasesOf(tx, req.model_id),
          req.version,
        );
        if (aliases.length > 0 && !req.force)
          throw versionInUse(
            req.model_id,
            req.version,
            aliases,
            'move or delete them first, or delete with force (?force=true)',
          );
        await tx.query(
          `DELETE FROM model_aliases WHERE model_id = $1 AND version = $2`,
          [req.model_id, req.version],
        );
        await tx.delete(ModelVersionEntity, {
          modelId: req.model_id,
          version: req.version,
        });
        await recordAudit(tx, {
          actor: req.actor,
          action: 'version.delete',
          model_id: req.model_id,
          version: req.version,
          details: {
            sha256: version.sha256,
            artifact_uri: version.artifactUri,
            aliases_deleted: aliases,
          },
        });
        return {
          version: toVersionRecord(version, measured),
          aliases_deleted: aliases,
        };
      }),
    );
  }

  /** Deletes a model with its versions, their measurements and its aliases. */
  deleteModel(req: DeleteModelRequest): Promise<DeleteModelResponse> {
    return this.gate.run('delete_model', () =>
      this.dataSource.transaction(async (tx) => {
        const model = await this.lockModel(tx, req.id);
        const aliases = await this.aliasesOf(tx, req.id);
        const versions = await tx.find(ModelVersionEntity, {
          select: { version: true },
          where: { modelId: req.id },
          order: { version: 'ASC' },
        });
        await tx.query(`DELETE FROM model_aliases WHERE model_id = $1`, [
          req.id,
        ]);
        await tx.delete(ModelVersionEntity, { modelId: req.id });
        await tx.delete(ModelEntity, { id: req.id });
        const numbers = versions.map((v) => v.version);
        await recordAudit(tx, {
          actor: req.actor,
          action: 'model.delete',
          model_id: req.id,
          details: { format: model.format, versions: numbers, aliases },
        });
        return { model: toModelRecord(model), versions: numbers, aliases };
      }),
    );
  }

  /** See ReferencedArtifactsRequest: one query on the (model_id, sha256) index. */
  referencedArtifacts(
    req: ReferencedArtifactsRequest,
  ): Promise<ReferencedArtifactsResponse> {
    if (req.artifacts.length === 0) return Promise.resolve({ referenced: [] });
    return this.gate.run('referenced_artifacts', async () => {
      const rows: { model_id: string; sha256: string }[] =
        await this.dataSource.query(
          `SELECT DISTINCT v.model_id, v.sha256
           FROM model_versions v
           JOIN unnest($1::text[], $2::text[]) AS a(model_id, sha256)
             ON v.model_id = a.model_id AND v.sha256 = a.sha256`,
          [
            req.artifacts.map((a) => a.model_id),
            req.artifacts.map((a) => a.sha256),
          ],
        );
      return {
        referenced: rows.map((r) => ({
          model_id: r.model_id,
          sha256: r.sha256.trim(),
        })),
      };
    });
  }

  listAudit(req: ListAuditRequest): Promise<ListAuditResponse> {
    return this.gate.run('list_audit', () =>
      readAudit(this.dataSource.manager, req),
    );
  }

  private async aliasesOf(
    manager: EntityManager,
    modelId: string,
  ): Promise<AliasMap> {
    const rows: { alias: string; version: number }[] = await manager.query(
      `SELECT alias, version FROM model_aliases WHERE model_id = $1
       ORDER BY alias`,
      [modelId],
    );
    return Object.fromEntries(rows.map((r) => [r.alias, Number(r.version)]));
  }

  /**
   * Keeps the latest measurement of a version: a newer `measured_at` replaces the
   * stored one, an older or equal one (a redelivery, or the same event handled by
   * another registry instance) changes nothing. The latest, not the largest, because
   * it reflects the engine the runtimes run now. Resolves to whether it was stored;
   * VERSION_NOT_FOUND when the version does not exist.
   */
  recordMeasurement(m: VersionMeasuredEvent): Promise<boolean> {
    return this.gate.run('record_measurement', async () => {
      try {
        const rows: unknown[] = await this.dataSource.query(
          `INSERT INTO version_measurements AS vm
             (model_id, version, memory_bytes, load_ms, node_id, measured_at)
           VALUES ($1, $2, $3, $4, $5, COALESCE($6::timestamptz, now()))
           ON CONFLICT (model_id, version) DO UPDATE SET
             memory_bytes = EXCLUDED.memory_bytes, load_ms = EXCLUDED.load_ms,
             node_id = EXCLUDED.node_id, measured_at = EXCLUDED.measured_at
           WHERE vm.measured_at < EXCLUDED.measured_at
           RETURNING vm.model_id`,
          [
            m.model_id,
            m.version,
            m.memory_bytes,
            m.load_ms,
            m.node_id,
            m.measured_at ?? null,
          ],
        );
        return rows.length > 0;
      } catch (e) {
        if (sqlState(e) === FOREIGN_KEY_VIOLATION) {
          throw new PortfolioError(
            'VERSION_NOT_FOUND',
            `model "${m.model_id}" has no version ${m.version}`,
            { model_id: m.model_id, version: m.version },
          );
        }
        throw e;
      }
    });
  }

  private async findVersion(
    tx: EntityManager,
    modelId: string,
    version: number,
  ): Promise<ModelVersionEntity> {
    const found = await tx.findOneBy(ModelVersionEntity, { modelId, version });
    if (!found)
      throw new PortfolioError(
        'VERSION_NOT_FOUND',
        `model "${modelId}" has no version ${version}`,
        { model_id: modelId, version },
      );
    return found;
  }

  private async lockModel(tx: EntityManager, id: string): Promise<ModelEntity> {
    const model = await this.findLockedModel(tx, id);
    if (!model) throw modelNotFound(id);
    return model;
  }

  private findLockedModel(
    tx: EntityManager,
    id: string,
  ): Promise<ModelEntity | null> {
    return tx
      .createQueryBuilder(ModelEntity, 'm')
      .setLock('pessimistic_write')
      .where('m.id = :id', { id })
      .getOne();
  }
}

const FOREIGN_KEY_VIOLATION = '23503';

/** The record's name of each entity field a settings update may change. */
const RECORD_FIELD = {
  description: 'description',
  memoryEstimateBytes: 'memory_estimate_bytes',
  memoryEstimateAuthoritative: 'memory_estimate_authoritative',
  preload: 'preload',
  pinned: 'pinned',
  ttlMs: 'ttl_ms',
  labels: 'labels',
  maxBatchSize: 'max_batch_size',
  maxQueueDelayMs: 'max_queue_delay_ms',
  engine: 'engine',
  processing: 'processing',
} as const;

/** The model record's fields a settings update may change. */
const SETTING_FIELDS = [
  'description',
  'memory_estimate_bytes',
  'memory_estimate_authoritative',
  'preload',
  'pinned',
  'ttl_ms',
  'labels',
  'max_batch_size',
  'max_queue_delay_ms',
  'engine',
  'processing',
] as const;

function sqlState(e: unknown): unknown {
  const err = e as { code?: unknown; driverError?: { code?: unknown } } | null;
  return err?.driverError?.code ?? err?.code;
}

/** The database refuses it too (models_authoritative_estimate_declared); this says it in words. */
function assertAuthoritativeEstimate(
  authoritative: boolean,
  estimateBytes: number | null,
  modelId: string,
): void {
  if (authoritative && estimateBytes === null)
    throw authoritativeWithoutEstimate(modelId);
}

function authoritativeWithoutEstimate(modelId: string): PortfolioError {
  return new PortfolioError(
    'INVALID_REQUEST',
    `memory_estimate_authoritative: model "${modelId}" has no memory estimate to make authoritative; declare memory_estimate_bytes too`,
    { model_id: modelId, field: 'memory_estimate_authoritative' },
  );
}

/** The aliases of `aliases` that point at `version`, by name. */
function aliasesAt(aliases: AliasMap, version: number): string[] {
  return Object.keys(aliases).filter((a) => aliases[a] === version);
}

function versionInUse(
  modelId: string,
  version: number,
  aliases: string[],
  remedy: string,
): PortfolioError {
  const names = aliases.map((a) => `"${a}"`).join(', ');
  return new PortfolioError(
    'VERSION_IN_USE',
    `version ${version} of model "${modelId}" is where alias${aliases.length > 1 ? 'es' : ''} ${names} point${aliases.length > 1 ? '' : 's'}; ${remedy}`,
    { model_id: modelId, version, aliases },
  );
}

function aliasNotFound(modelId: string, alias: string): PortfolioError {
  return new PortfolioError(
    'ALIAS_NOT_FOUND',
    `model "${modelId}" has no alias "${alias}"`,
    { model_id: modelId, alias },
  );
}

function modelNotFound(id: string): PortfolioError {
  return new PortfolioError(
    'MODEL_NOT_FOUND',
    `model "${id}" is not registered`,
    { model_id: id },
  );
}
