import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';

import {
  AdminUnloadResponse,
  aliasTarget,
  CacheManager,
  ClusterStatus,
  DEFAULT_ALIAS,
  isPortfolioError,
  PortfolioError,
  Registry,
  UpdateVersionResponse,
  VersionRecord,
} from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';

import { ModelCatalogService } from '../catalog/model-catalog.service';
import { GATEWAY_SETTINGS, GatewaySettings } from '../gateway.settings';
import { AliasMove, DeletedModel, DeletedVersion } from './admin.dto';

/**
 * How long a moved alias's previous version keeps serving before it is unloaded: the
 * time the registry's change event needs to reach every gateway, so that none of them
 * still routes to it. Requests in flight on it are waited for by the unload itself.
 */
export const ALIAS_DRAIN_MS = 1000;

/**
 * Admin changes that touch what runtimes hold as well as what the registry says:
 * version-aware alias moves (the new version is loaded wherever the old one serves
 * before routing switches, and the old one drains afterwards), deletions (refused while
 * aliased or loaded, unless forced) and deprecation.
 */
@Injectable()
export class VersionLifecycleService implements OnModuleDestroy {
  private readonly logger = new Logger('VersionLifecycle');
  private readonly drains = new Set<NodeJS.Timeout>();

  constructor(
    private readonly messaging: Messaging,
    private readonly catalog: ModelCatalogService,
    @Inject(GATEWAY_SETTINGS) private readonly settings: GatewaySettings,
  ) {}

  onModuleDestroy(): void {
    for (const t of this.drains) clearTimeout(t);
    this.drains.clear();
  }

  /**
   * Points `alias` at `version`. When the alias moves away from a version that is
   * loaded, the new version is loaded first on as many runtimes; a load that fails
   * leaves the alias where it was (the error says why). Then the alias moves, and the
   * previous version is unloaded after ALIAS_DRAIN_MS unless something else still
   * leads to it. Explicit requests for it keep working (it loads again on demand).
   */
  async moveAlias(
    modelId: string,
    alias: string,
    version: number,
    actor: string | undefined,
  ): Promise<AliasMove> {
    const current = await this.messaging.call(Registry.getModel, {
      id: modelId,
    });
    const target = current.versions.find((v) => v.version === version);
    const aliases = current.aliases ?? {};
    // What the alias leads to now: for `production` while it is unset, the default
    // (the newest ready version), which predictions naming no version get.
    const previous =
      aliasTarget(aliases, alias) ??
      (alias === DEFAULT_ALIAS ? newestReady(current.versions) : undefined);
    let nodes: string[] = [];
    let copies = 0;
    // Anything the registry will refuse (no such version, not ready) is left to it.
    if (
      target?.status === 'ready' &&
      previous !== undefined &&
      previous !== version
    ) {
      copies = servingNodes(await this.status(), modelId, previous).length;
      if (copies > 0)
        nodes = await this.loadAhead(modelId, version, copies, alias, previous);
    }
    const { alias: record } = await this.messaging.call(Registry.setAlias, {
      model_id: modelId,
      alias,
      version,
      ...(actor !== undefined ? { actor } : {}),
    });
    // This gateway's next request sees the change at once; the others when the
    // registry's change event reaches them.
    this.catalog.invalidate(modelId);
    let fate: AliasMove['rollout']['previous'] = 'not_loaded';
    if (copies > 0 && previous !== undefined && previous !== version)
      fate = (await this.stillLeadsTo(modelId, previous)) ? 'kept' : 'draining';
    if (fate === 'draining' && previous !== undefined)
      this.drainLater(modelId, previous);
    return { ...record, rollout: { nodes, previous: fate } };
  }

  async setStatus(
    modelId: string,
    version: number,
    status: 'ready' | 'deprecated',
    actor: string | undefined,
  ): Promise<UpdateVersionResponse> {
    const res = await this.messaging.call(Registry.updateVersion, {
      model_id: modelId,
      version,
      status,
      ...(actor !== undefined ? { actor } : {}),
    });
    if (res.changed) this.catalog.invalidate(modelId);
    return res;
  }

  /**
   * Deletes a version: VERSION_IN_USE while an alias points at it or a runtime holds
   * it, unless `force`, which deletes those aliases and unloads it (its requests in
   * flight finish first).
   */
  async deleteVersion(
    modelId: string,
    version: number,
    force: boolean,
    actor: string | undefined,
  ): Promise<DeletedVersion> {
    // 404 before anything is unloaded; an alias pointing at it is the registry's to
    // refuse (VERSION_IN_USE), in the same transaction as the deletion.
    await this.messaging.call(Registry.resolveVersion, {
      model_id: modelId,
      version,
    });
    if (!force) {
      const nodes = servingNodes(await this.status(), modelId, version);
      if (nodes.length > 0)
        throw new PortfolioError(
          'VERSION_IN_USE',
          `version ${version} of model "${modelId}" is loaded on ${nodes.join(', ')}; unload it first, or delete with ?force=true`,
          { model_id: modelId, version, nodes },
        );
    }
    const unloaded = force ? await this.unload(modelId, version) : [];
    const deleted = await this.messaging.call(Registry.deleteVersion, {
      model_id: modelId,
      version,
      force,
      ...(actor !== undefined ? { actor } : {}),
    });
    this.catalog.invalidate(modelId);
    return { ...deleted, unloaded };
  }

  /** Deletes a model with its versions: MODEL_IN_USE while any is loaded, unless `force`. */
  async deleteModel(
    modelId: string,
    force: boolean,
    actor: string | undefined,
  ): Promise<DeletedModel> {
    await this.messaging.call(Registry.getModel, { id: modelId });
    if (!force) {
      const loaded = (await this.status()).models.filter(
        (m) => m.model_id === modelId && m.nodes.length > 0,
      );
      if (loaded.length > 0)
        throw new PortfolioError(
          'MODEL_IN_USE',
          `model "${modelId}" is loaded (${loaded.map((m) => `version ${m.version} on ${m.nodes.join(', ')}`).join('; ')}); unload it first, or delete with ?force=true`,
          {
            model_id: modelId,
            loaded: loaded.map((m) => ({ version: m.version, nodes: m.nodes })),
          },
        );
    }
    const unloaded = force ? await this.unload(modelId, undefined) : [];
    const deleted = await this.messaging.call(Registry.deleteModel, {
      id: modelId,
      ...(actor !== undefined ? { actor } : {}),
    });
    this.catalog.invalidate(modelId);
    return { ...deleted, unloaded };
  }

  /** The new version on `copies` runtimes, or an error that says the alias did not move. */
  private async loadAhead(
    modelId: string,
    version: number,
    copies: number,
    alias: string,
    previous: number,
  ): Promise<string[]> {
    try {
      const loaded = await this.messaging.call(
        CacheManager.load,
        { model_id: modelId, version, copies },
        // Copies are placed one after the other, each a load.
        { timeoutMs: this.settings.loadTimeoutMs * copies },
      );
      return loaded.nodes;
    } catch (e) {
      if (!isPortfolioError(e)) throw e;
      throw new PortfolioError(
        e.code,
        `alias "${alias}" of model "${modelId}" stays at version ${previous}: version ${version} did not load (${e.message})`,
        { ...e.details, model_id: modelId, alias, version: previous },
      );
    }
  }

  /** True when another alias, or the default version, still leads to `version`. */
  private async stillLeadsTo(
    modelId: string,
    version: number,
  ): Promise<boolean> {
    const { version: byDefault, aliases = {} } = await this.messaging.call(
      Registry.resolveVersion,
      { model_id: modelId },
    );
    return (
      byDefault.version === version ||
      Object.values(aliases).some((v) => v === version)
    );
  }

  private drainLater(modelId: string, version: number): void {
    const timer = setTimeout(() => {
      this.drains.delete(timer);
      this.messaging
        .call(
          CacheManager.unload,
          { model_id: modelId, version },
          { timeoutMs: this.settings.loadTimeoutMs },
        )
        .then(
          (res) =>
            this.logger.log(
              `${modelId}@${version} drained after its alias moved: unloaded from ${res.unloaded.map((u) => u.node_id).join(', ') || 'nowhere (already gone)'}`,
            ),
          (e: unknown) =>
            this.logger.warn(
              `${modelId}@${version} was not unloaded after its alias moved (it stays until evicted): ${e instanceof Error ? e.message : String(e)}`,
            ),
        );
    }, ALIAS_DRAIN_MS);
    timer.unref();
    this.drains.add(timer);
  }

  private async unload(
    modelId: string,
    version: number | undefined,
  ): Promise<AdminUnloadResponse['unloaded']> {
    const res = await this.messaging.call(
      CacheManager.unload,
      {
        model_id: modelId,
        ...(version !== undefined ? { version } : {}),
        reason: 'deleted',
      },
      { timeoutMs: this.settings.loadTimeoutMs },
    );
    return res.unloaded;
  }

  private status(): Promise<ClusterStatus> {
    return this.messaging.call(CacheManager.status, {}).catch((e: unknown) => {
      throw isPortfolioError(e) && e.code === 'SERVICE_UNAVAILABLE'
        ? new PortfolioError(
            'SERVICE_UNAVAILABLE',
            'the cache-manager is not reachable, so where the model is loaded is unknown; nothing was changed',
          )
        : e;
    });
  }
}

/** Runtimes where (model, version) is loaded or loading. */
function servingNodes(
  status: ClusterStatus,
  modelId: string,
  version: number,
): string[] {
  const m = status.models.find(
    (s) => s.model_id === modelId && s.version === version,
  );
  return m && (m.state === 'loaded' || m.state === 'loading') ? m.nodes : [];
}

function newestReady(versions: VersionRecord[]): number | undefined {
  let newest: number | undefined;
  for (const v of versions)
    if (v.status === 'ready' && (newest === undefined || v.version > newest))
      newest = v.version;
  return newest;
}
