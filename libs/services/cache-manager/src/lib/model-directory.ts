import { Logger } from '@nestjs/common';

import {
  isPortfolioError,
  listAllModels,
  ModelRecord,
  Registry,
} from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';

/**
 * The registry's model records as the cache-manager needs them: pinned, preload, ttl,
 * labels and the declared memory estimate of every model a runtime holds or may load.
 * Filled from one listing at start, kept fresh by the registry's change events, and
 * completed on demand for a model it has not seen (never guessed: an unknown model is
 * treated as pinned until its record arrives, so nothing is evicted on a guess).
 */
export class ModelDirectory {
  private readonly logger = new Logger('ModelDirectory');
  private readonly records = new Map<string, ModelRecord>();
  private listed = false;
  private changes = 0;

  constructor(private readonly messaging: Messaging) {}

  /** True once one full listing has arrived. */
  get complete(): boolean {
    return this.listed;
  }

  /** Bumped whenever a record may have changed. */
  get version(): number {
    return this.changes;
  }

  get(modelId: string): ModelRecord | undefined {
    return this.records.get(modelId);
  }

  all(): IterableIterator<ModelRecord> {
    return this.records.values();
  }

  put(record: ModelRecord): void {
    if (this.records.get(record.id) !== record) this.changes++;
    this.records.set(record.id, record);
  }

  async refreshAll(): Promise<void> {
    // A page at a time: the whole catalogue in one answer may not cross NATS.
    const models = await listAllModels((req) =>
      this.messaging.call(Registry.listModels, req),
    );
    this.records.clear();
    for (const m of models) this.records.set(m.id, m);
    this.listed = true;
    this.changes++;
  }

  /** After a registry change event: the model's record anew (or gone). */
  async refresh(modelId: string): Promise<void> {
    try {
      const { model } = await this.messaging.call(Registry.getModel, {
        id: modelId,
      });
      this.records.set(modelId, model);
      this.changes++;
    } catch (e) {
      if (isPortfolioError(e) && e.code === 'MODEL_NOT_FOUND') {
        this.records.delete(modelId);
        this.changes++;
      } else
        this.logger.warn(
          `could not refresh ${modelId}: ${e instanceof Error ? e.message : String(e)}`,
        );
    }
  }

  /** Fetches the records of the given models not known yet; failures leave them unknown. */
  async fetchMissing(modelIds: Iterable<string>): Promise<void> {
    const missing = [...new Set(modelIds)].filter(
      (id) => !this.records.has(id),
    );
    await Promise.all(missing.map((id) => this.refresh(id)));
  }
}
