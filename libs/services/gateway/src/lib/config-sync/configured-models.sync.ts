import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

import { aliasTarget, isPortfolioError, Registry } from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';
import { fileSha256 } from '@portfolio/storage';

import { ModelAdminService } from '../admin/model-admin.service';
import { ModelCatalogService } from '../catalog/model-catalog.service';
import type { ConfiguredModel } from '@portfolio/config';

import { GATEWAY_SETTINGS, GatewaySettings } from '../gateway.settings';
import { directoryDigest, tarOfDirectory } from './directory-tar';

/** Errors that another attempt may cure (a service still starting). */
const TRANSIENT = new Set(['SERVICE_UNAVAILABLE', 'TIMEOUT', 'NO_RUNTIME']);
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5000;

/**
 * Registers the models listed in the configuration file, idempotently: a model's
 * settings follow the file, and its artifact becomes a new version only when its bytes
 * (sha256) are not already a version of that model, so a restart registers nothing
 * new. Runs in the background and retries while the registry or storage are still
 * starting; `synced` resolves once every listed model is settled.
 */
/** Who the audit log names for what the configuration file registers. */
const CONFIG_ACTOR = 'config';

@Injectable()
export class ConfiguredModelsSync
  implements OnApplicationBootstrap, OnModuleDestroy
{
  private readonly logger = new Logger('ConfiguredModels');
  private stopped = false;
  private done!: () => void;
  readonly synced = new Promise<void>((resolve) => (this.done = resolve));

  constructor(
    private readonly messaging: Messaging,
    private readonly admin: ModelAdminService,
    private readonly catalog: ModelCatalogService,
    @Inject(GATEWAY_SETTINGS) private readonly settings: GatewaySettings,
  ) {}

  onApplicationBootstrap(): void {
    void this.run();
  }

  onModuleDestroy(): void {
    this.stopped = true;
  }

  private async run(): Promise<void> {
    for (const model of this.settings.configuredModels) {
      let delay = RETRY_MIN_MS;
      while (!this.stopped) {
        try {
          await this.sync(model);
          break;
        } catch (e) {
          if (isPortfolioError(e) && !TRANSIENT.has(e.code)) {
            this.logger.error(
              `configured model "${model.id}" (models.${model.id} in the configuration) was not registered: ${e.message}`,
            );
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, delay));
          delay = Math.min(delay * 2, RETRY_MAX_MS);
        }
      }
    }
    this.done();
  }

  private async sync(model: ConfiguredModel): Promise<void> {
    const { created } = await this.admin.createModel({
      id: model.id,
      format: model.format,
      description: model.description,
      memory_estimate_bytes: model.memoryEstimateBytes,
      memory_estimate_authoritative: model.memoryEstimateAuthoritative,
      preload: model.preload,
      pinned: model.pinned,
      ttl_ms: model.ttlMs,
      max_batch_size: model.maxBatchSize,
      max_queue_delay_ms: model.maxQueueDelayMs,
      engine: model.engine,
      processing: model.processing,
      if_exists: 'update',
      actor: CONFIG_ACTOR,
    });
    // A directory (a TF.js or HuggingFace model) is sent as a tar of its files; its
    // digest is the storage's manifest digest over them, computed here the same way.
    // Should the two ever differ, the upload still reuses an identical version.
    const directory = (await stat(model.path)).isDirectory();
    const sha256 = directory
      ? await directoryDigest(model.path)
      : await fileSha256(model.path);
    const { versions, aliases = {} } = await this.messaging.call(
      Registry.getModel,
      { id: model.id },
    );
    const existing = versions.find(
      (v) => v.sha256 === sha256 && v.status === 'ready',
    );
    let version: number;
    if (existing) {
      this.logger.log(
        `${model.id}: ${model.path} is already version ${existing.version}`,
      );
      version = existing.version;
    } else {
      const res = await this.admin.uploadVersion(
        model.id,
        directory ? tarOfDirectory(model.path) : createReadStream(model.path),
        { reuseIfSameSha256: true, actor: CONFIG_ACTOR },
      );
      version = res.version.version;
      this.logger.log(
        `${model.id}: registered ${model.path} as version ${version}${created ? ' (new model)' : ''}`,
      );
    }
    // Only the aliases the file names, and only where they point elsewhere: a restart
    // with nothing changed writes nothing.
    for (const alias of model.aliases) {
      if (aliasTarget(aliases, alias) === version) continue;
      await this.messaging.call(Registry.setAlias, {
        model_id: model.id,
        alias,
        version,
        actor: CONFIG_ACTOR,
      });
      this.catalog.invalidate(model.id);
      this.logger.log(`${model.id}: alias ${alias} -> version ${version}`);
    }
  }
}
