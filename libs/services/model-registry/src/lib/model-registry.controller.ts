import { Controller, Logger } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';

import {
  isPortfolioError,
  ModelChangedEvent,
  Registry,
  RpcRequest,
  RpcResponse,
  VersionMeasuredEvent,
} from '@portfolio/contracts';
import { BusEvent, BusRpc, Messaging } from '@portfolio/messaging';

import { ModelRegistryService } from './model-registry.service';

type Req<K extends keyof typeof Registry> = RpcRequest<(typeof Registry)[K]>;
type Res<K extends keyof typeof Registry> = Promise<
  RpcResponse<(typeof Registry)[K]>
>;

/**
 * The registry's bus surface: each request arrives validated against its contract
 * (BusServer, through Messaging), is delegated, and a change is announced once done.
 */
@Controller()
export class ModelRegistryController {
  private readonly logger = new Logger('ModelRegistry');
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly messaging: Messaging,
    private readonly registry: ModelRegistryService,
  ) {}

  @BusRpc(Registry.createModel)
  async createModel(@Payload() req: Req<'createModel'>): Res<'createModel'> {
    const res = await this.registry.createModel(req);
    if (res.created)
      this.changed({ model_id: res.model.id, change: 'created' });
    else if (req.if_exists === 'update')
      this.changed({ model_id: res.model.id, change: 'updated' });
    return res;
  }

  @BusRpc(Registry.updateModel)
  async updateModel(@Payload() req: Req<'updateModel'>): Res<'updateModel'> {
    const res = await this.registry.updateModel(req);
    if (res.changed.length > 0)
      this.changed({ model_id: req.id, change: 'updated' });
    return res;
  }

  @BusRpc(Registry.getModel)
  getModel(@Payload() req: Req<'getModel'>): Res<'getModel'> {
    return this.registry.getModel(req.id);
  }

  @BusRpc(Registry.listModels)
  listModels(@Payload() req: Req<'listModels'>): Res<'listModels'> {
    return this.registry.listModels(req);
  }

  @BusRpc(Registry.createVersion)
  async createVersion(
    @Payload() req: Req<'createVersion'>,
  ): Res<'createVersion'> {
    const res = await this.registry.createVersion(req);
    if (res.created) {
      this.changed({
        model_id: req.model_id,
        change: 'version_created',
        version: res.version.version,
      });
    }
    return res;
  }

  @BusRpc(Registry.updateVersion)
  async updateVersion(
    @Payload() req: Req<'updateVersion'>,
  ): Res<'updateVersion'> {
    const res = await this.registry.updateVersion(req);
    if (res.changed)
      this.changed({
        model_id: req.model_id,
        change: 'version_updated',
        version: req.version,
      });
    return res;
  }

  @BusRpc(Registry.deleteVersion)
  async deleteVersion(
    @Payload() req: Req<'deleteVersion'>,
  ): Res<'deleteVersion'> {
    const res = await this.registry.deleteVersion(req);
    this.changed({
      model_id: req.model_id,
      change: 'version_deleted',
      version: req.version,
    });
    return res;
  }

  @BusRpc(Registry.deleteModel)
  async deleteModel(@Payload() req: Req<'deleteModel'>): Res<'deleteModel'> {
    const res = await this.registry.deleteModel(req);
    this.changed({ model_id: req.id, change: 'deleted' });
    return res;
  }

  @BusRpc(Registry.resolveVersion)
  resolveVersion(@Payload() req: Req<'resolveVersion'>): Res<'resolveVersion'> {
    return this.registry.resolveVersion(req);
  }

  @BusRpc(Registry.listAudit)
  listAudit(@Payload() req: Req<'listAudit'>): Res<'listAudit'> {
    return this.registry.listAudit(req);
  }

  @BusRpc(Registry.referencedArtifacts)
  referencedArtifacts(
    @Payload() req: Req<'referencedArtifacts'>,
  ): Res<'referencedArtifacts'> {
    return this.registry.referencedArtifacts(req);
  }

  @BusRpc(Registry.setAlias)
  async setAlias(@Payload() req: Req<'setAlias'>): Res<'setAlias'> {
    const res = await this.registry.setAlias(req);
    this.changed({
      model_id: req.model_id,
      change: 'alias_set',
      alias: req.alias,
      version: req.version,
    });
    return res;
  }

  @BusRpc(Registry.deleteAlias)
  async deleteAlias(@Payload() req: Req<'deleteAlias'>): Res<'deleteAlias'> {
    const res = await this.registry.deleteAlias(req);
    this.changed({
      model_id: req.model_id,
      change: 'alias_deleted',
      alias: req.alias,
      version: res.version,
    });
    return res;
  }

  /**
   * No registry.model.changed.v1 for a measurement: nothing a gateway caches depends
   * on it, and the cache-manager that publishes it knows it already.
   */
  @BusEvent(Registry.versionMeasured)
  versionMeasured(@Payload() e: VersionMeasuredEvent): Promise<void> {
    return this.measured(e);
  }

  /** Up means able to answer: a registry without its database is down for health. */
  @BusRpc(Registry.ping)
  async ping(): Res<'ping'> {
    await this.registry.ping();
    return {
      service: 'model-registry',
      instance: process.pid.toString(),
      started_at: this.startedAt,
    };
  }

  /** Best effort: a measurement that cannot be stored is logged; the next load measures again. */
  private async measured(e: VersionMeasuredEvent): Promise<void> {
    try {
      await this.registry.recordMeasurement(e);
    } catch (err) {
      if (!isPortfolioError(err)) throw err;
      this.logger.warn(
        `measurement of ${e.model_id}@${e.version} by ${e.node_id} not recorded: ${err.message}`,
      );
    }
  }

  private changed(event: ModelChangedEvent): void {
    this.messaging.emit(Registry.modelChanged, event);
  }
}
