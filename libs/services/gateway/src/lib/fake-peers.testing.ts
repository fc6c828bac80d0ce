import {
  aliasTarget,
  AdminLoadRequest,
  AdminLoadResponse,
  AdminUnloadRequest,
  AdminUnloadResponse,
  CacheManager,
  ClusterStatus,
  EnsureLoadedRequest,
  inferSubject,
  InferHeader,
  ModelRecord,
  PortfolioError,
  DEFAULT_ALIAS,
  Registry,
  Runtime,
  GcReport,
  GcRequest,
  Storage,
  VersionRecord,
} from '@portfolio/contracts';
import {
  BusMessage,
  BusReply,
  BusSubscription,
  Messaging,
} from '@portfolio/messaging';
import { attachedFrame, decodeFrame, encodeFrame } from '@portfolio/tensor';

/**
 * The gateway's peers on a real bus (in-process or NATS): a registry, a cache-manager
 * and runtimes answering the contracts' subjects with canned behaviour. They stand
 * where other processes would; the gateway under test is the real one.
 */

/** Every fake model takes `x` FP32 [-1, 4]; its runtimes answer `y` FP32 [-1, 1], the row sums. */
export const SIGNATURE = {
  inputs: [{ name: 'x', datatype: 'FP32' as const, shape: [-1, 4] }],
  outputs: [{ name: 'y', datatype: 'FP32' as const, shape: [-1, 1] }],
};

const sha = (n: number) => n.toString(16).padStart(64, '0');

/** Models with versions 1..`versions` (the highest is the default). */
export class FakeRegistry {
  private readonly subscriptions: BusSubscription[];
  /** Model -> alias -> version, as the registry keeps them (see Registry.setAlias). */
  private readonly aliases = new Map<string, Record<string, number>>();
  /** `model@version` deleted, and models deleted (see Registry.deleteVersion, deleteModel). */
  private readonly deleted = new Set<string>();
  private readonly deprecated = new Set<string>();

  constructor(
    messaging: Messaging,
    private readonly models: Readonly<Record<string, number>>,
  ) {
    this.subscriptions = [
      // Pages as the registry does (its models have no labels).
      messaging.serve(Registry.listModels, (req) => {
        const ids = Object.keys(this.models)
          .sort()
          .filter((id) => req.after === undefined || id > req.after)
          .filter(() => Object.keys(req.labels ?? {}).length === 0);
        const page = ids.slice(0, req.limit ?? ids.length);
        return {
          models: page.map(modelRecord),
          next: page.length < ids.length ? page[page.length - 1] : null,
        };
      }),
      messaging.serve(Registry.getModel, (req) => ({
        model: modelRecord(this.known(req.id)),
        versions: this.versionsOf(req.id).map((v) => this.record(req.id, v)),
        aliases: this.aliasesOf(req.id),
      })),
      messaging.serve(Registry.resolveVersion, (req) => {
        const versions = this.versionsOf(this.known(req.model_id));
        const aliases = this.aliasesOf(req.model_id);
        if (
          req.alias !== undefined &&
          aliasTarget(aliases, req.alias) === undefined
        )
          throw new PortfolioError(
            'ALIAS_NOT_FOUND',
            `model "${req.model_id}" has no alias "${req.alias}"`,
          );
        const wanted =
          req.version ??
          aliasTarget(aliases, req.alias ?? DEFAULT_ALIAS) ??
          versions.length;
        if (!versions.includes(wanted))
          throw new PortfolioError(
            'VERSION_NOT_FOUND',
            `model "${req.model_id}" has no version ${wanted}`,
          );
        return {
          model: modelRecord(req.model_id),
          version: this.record(req.model_id, wanted),
          aliases,
        };
      }),
      // Settings are not kept: the registry's own tests cover them.
      messaging.serve(Registry.updateModel, (req) => ({
        model: modelRecord(this.known(req.id)),
        changed: [],
      })),
      // Records nothing: the registry's own tests cover the log.
      messaging.serve(Registry.listAudit, () => ({ entries: [], next: null })),
      messaging.serve(Registry.setAlias, (req) => {
        if (!this.versionsOf(this.known(req.model_id)).includes(req.version))
          throw new PortfolioError(
            'VERSION_NOT_FOUND',
            `model "${req.model_id}" has no version ${req.version}`,
          );
        const aliases = this.aliasesOf(req.model_id);
        const previous = aliasTarget(aliases, req.alias) ?? null;
        this.aliases.set(req.model_id, {
          ...aliases,
          [req.alias]: req.version,
        });
        return {
          alias: {
            model_id: req.model_id,
            alias: req.alias,
            version: req.version,
            previous_version: previous,
            updated_at: '2026-01-01T00:00:00.000Z',
            updated_by: req.actor ?? null,
          },
        };
      }),
      messaging.serve(Registry.updateVersion, (req) => {
        this.knownVersion(req.model_id, req.version);
        const k = `${req.model_id}@${req.version}`;
        const was = this.deprecated.has(k);
        if (req.status === 'deprecated') this.deprecated.add(k);
        else this.deprecated.delete(k);
        return {
          version: this.record(req.model_id, req.version),
          changed: was !== (req.status === 'deprecated'),
        };
      }),
      messaging.serve(Registry.deleteVersion, (req) => {
        this.knownVersion(req.model_id, req.version);
        const aliases = this.aliasesOf(req.model_id);
        const aliased = Object.keys(aliases).filter(
          (a) => aliases[a] === req.version,
        );
        // As the registry words it (model-registry.service.ts, versionInUse).
        if (aliased.length > 0 && !req.force)
          throw new PortfolioError(
            'VERSION_IN_USE',
            `version ${req.version} of model "${req.model_id}" is where ${aliased.length > 1 ? 'aliases' : 'alias'} ${aliased.map((a) => `"${a}"`).join(', ')} point${aliased.length > 1 ? '' : 's'}; move or delete them first, or delete with force (?force=true)`,
            { model_id: req.model_id, version: req.version, aliases: aliased },
          );
        for (const a of aliased) delete aliases[a];
        const record = this.record(req.model_id, req.version);
        this.deleted.add(`${req.model_id}@${req.version}`);
        return { version: record, aliases_deleted: aliased };
      }),
      messaging.serve(Registry.deleteModel, (req) => {
        const versions = this.versionsOf(this.known(req.id));
        const aliases = this.aliasesOf(req.id);
        this.deleted.add(req.id);
        this.aliases.delete(req.id);
        return { model: modelRecord(req.id), versions, aliases };
      }),
      messaging.serve(Registry.deleteAlias, (req) => {
        const rest = { ...this.aliasesOf(this.known(req.model_id)) };
        const version = aliasTarget(rest, req.alias);
        if (version === undefined)
          throw new PortfolioError(
            'ALIAS_NOT_FOUND',
            `model "${req.model_id}" has no alias "${req.alias}"`,
          );
        delete rest[req.alias];
        this.aliases.set(req.model_id, rest);
        return { model_id: req.model_id, alias: req.alias, version };
      }),
    ];
  }

  private aliasesOf(id: string): Record<string, number> {
    return this.aliases.get(id) ?? {};
  }

  close(): void {
    for (const s of this.subscriptions) s.unsubscribe();
  }

  private record(id: string, version: number): VersionRecord {
    return {
      ...versionRecord(id, version),
      ...(this.deprecated.has(`${id}@${version}`)
        ? { status: 'deprecated' as const }
        : {}),
    };
  }

  private knownVersion(id: string, version: number): void {
    if (!this.versionsOf(this.known(id)).includes(version))
      throw new PortfolioError(
        'VERSION_NOT_FOUND',
        `model "${id}" has no version ${version}`,
      );
  }

  private known(id: string): string {
    if (!(id in this.models) || this.deleted.has(id))
      throw new PortfolioError(
        'MODEL_NOT_FOUND',
        `model "${id}" is not registered`,
      );
    return id;
  }

  private versionsOf(id: string): number[] {
    return Array.from({ length: this.models[id] ?? 0 }, (_, i) => i + 1).filter(
      (v) => !this.deleted.has(`${id}@${v}`),
    );
  }
}

/**
 * Answers ensure from `placements` (the nodes holding each `model@version`, first not
 * excluded wins; none: `loadAt` is "loaded" now), and records what it was asked.
 */
export class FakeCacheManager {
  readonly ensures: EnsureLoadedRequest[] = [];
  readonly loads: AdminLoadRequest[] = [];
  readonly unloads: AdminUnloadRequest[] = [];
  /** Resolves once a gateway has asked for the routing table (it does when it starts). */
  readonly routingAsked: Promise<void>;
  private askedForRouting!: () => void;
  readonly placements = new Map<string, string[]>();
  loadAt = 'r1';
  status: ClusterStatus = emptyStatus();
  onLoad: (
    req: AdminLoadRequest,
  ) => AdminLoadResponse | Promise<AdminLoadResponse> = (req) => ({
    model_id: req.model_id,
    version: req.version,
    nodes: ['r1', 'r2'].slice(0, req.copies ?? 1),
  });
  onUnload: (req: AdminUnloadRequest) => AdminUnloadResponse = (req) => ({
    model_id: req.model_id,
    unloaded: [],
  });
  private epoch = 0;
  private readonly subscriptions: BusSubscription[];

  constructor(private readonly messaging: Messaging) {
    this.routingAsked = new Promise(
      (resolve) => (this.askedForRouting = resolve),
    );
    this.subscriptions = [
      messaging.serve(CacheManager.ensureLoaded, (req) => {
        this.ensures.push(req);
        const k = `${req.model_id}@${req.version}`;
        const exclude = req.exclude_nodes ?? [];
        const held = (this.placements.get(k) ?? []).filter(
          (n) => !exclude.includes(n),
        );
        if (held.length) return { node_id: held[0], loaded_now: false };
        this.placements.set(k, [...held, this.loadAt]);
        return { node_id: this.loadAt, loaded_now: true };
      }),
      messaging.serve(CacheManager.getRouting, () => {
        this.askedForRouting();
        return this.table();
      }),
      messaging.serve(CacheManager.status, () => this.status),
      messaging.serve(CacheManager.load, (req) => {
        this.loads.push(req);
        return this.onLoad(req);
      }),
      messaging.serve(CacheManager.unload, (req) => {
        this.unloads.push(req);
        return this.onUnload(req);
      }),
      messaging.serve(CacheManager.ping, () => ({
        service: 'cache-manager',
        instance: 'fake',
        started_at: '2026-01-01T00:00:00.000Z',
      })),
    ];
  }

  /** Places the pair on these nodes and tells the gateways (a routing table push). */
  place(modelId: string, version: number, nodes: string[]): void {
    this.placements.set(`${modelId}@${version}`, nodes);
    this.messaging.emit(CacheManager.routingChanged, this.table());
  }

  close(): void {
    for (const s of this.subscriptions) s.unsubscribe();
  }

  private table() {
    return {
      instance: 'fake',
      epoch: ++this.epoch,
      generated_at: new Date().toISOString(),
      routes: [...this.placements]
        .filter(([, nodes]) => nodes.length)
        .map(([k, nodes]) => {
          const at = k.lastIndexOf('@');
          return {
            model_id: k.slice(0, at),
            version: Number(k.slice(at + 1)),
            nodes,
          };
        }),
    };
  }
}

/** A storage service that answers garbage collections with an empty report, recording them. */
export class FakeStorage {
  readonly collections: GcRequest[] = [];
  private readonly subscriptions: BusSubscription[];

  constructor(messaging: Messaging) {
    this.subscriptions = [
      messaging.serve(Storage.collectGarbage, (req): GcReport => {
        this.collections.push(req);
        return {
          dry_run: req.dry_run,
          min_age_ms: req.min_age_ms ?? 3_600_000,
          scanned: { artifacts: 0, files: 0, bytes: 0 },
          unreferenced: { artifacts: 0, bytes: 0, too_recent: 0, listed: [] },
          deleted: { artifacts: 0, bytes: 0 },
          took_ms: 0,
        };
      }),
    ];
  }

  close(): void {
    for (const s of this.subscriptions) s.unsubscribe();
  }
}

/**
 * A runtime that answers inferences with the row sums of `x` (and pings), unless told
 * to hold them (`hold()`: they wait until `release()`), or to stop answering altogether.
 */
export class FakeRuntime {
  /** Inference requests received. */
  received = 0;
  /** Of those, the ones whose tensors came as objects (the in-process bus's attachment), not a frame. */
  receivedAttached = 0;
  pings = 0;
  private held: (() => void)[] = [];
  private holding = false;
  private hung = false;
  private silentPings = 0;
  private subscriptions: BusSubscription[] = [];

  constructor(
    private readonly messaging: Messaging,
    readonly nodeId: string,
  ) {
    this.subscriptions = [
      messaging.serveRaw(inferSubject(messaging.prefix, nodeId), (m) =>
        this.infer(m),
      ),
      messaging.serve(
        Runtime.ping,
        () => {
          this.pings++;
          if (this.hung || this.silentPings > 0) {
            this.silentPings = Math.max(0, this.silentPings - 1);
            return new Promise<never>(() => undefined);
          }
          return {
            service: 'runtime',
            instance: nodeId,
            started_at: '2026-01-01T00:00:00.000Z',
          };
        },
        { target: nodeId },
      ),
    ];
  }

  /** Requests from now on wait (in flight) until release(). */
  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
    const held = this.held;
    this.held = [];
    for (const go of held) go();
  }

  /** The process died: nothing answers on its subjects, requests waiting on it never get a reply. */
  die(): void {
    this.held = [];
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions = [];
  }

  /** The process hangs: its subjects are still there, but pings go unanswered. */
  hang(): void {
    this.hung = true;
  }

  /** The next `n` pings go unanswered (a connection with a backlog to read), later ones are answered. */
  silenceNextPings(n: number): void {
    this.silentPings = n;
  }

  close(): void {
    this.die();
  }

  private async infer(m: BusMessage): Promise<BusReply> {
    this.received++;
    // As the real runtime: tensors as objects on the in-process bus, else a frame.
    const attached = attachedFrame(m.attachment);
    if (attached) this.receivedAttached++;
    const frame = attached ?? decodeFrame(m.data);
    const header = InferHeader.parse(frame.header);
    if (this.holding)
      await new Promise<void>((resolve) => this.held.push(resolve));
    const x = frame.tensors[0];
    const rows = x.shape[0];
    const y = new Float32Array(rows);
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < 4; c++) y[r] += Number(x.data[r * 4 + c]);
    const replyHeader = {
      model_id: header.model_id,
      version: header.version,
      node_id: this.nodeId,
      compute_ms: 0,
    };
    const tensors = [
      { name: 'y', datatype: 'FP32' as const, shape: [rows, 1], data: y },
    ];
    return attached
      ? {
          data: new Uint8Array(0),
          attachment: { header: replyHeader, tensors },
        }
      : { data: encodeFrame(replyHeader, tensors) };
  }
}

export function emptyStatus(): ClusterStatus {
  return {
    generated_at: '2026-01-01T00:00:00.000Z',
    runtimes: [],
    models: [],
    totals: {
      runtimes_alive: 0,
      capacity_bytes: 0,
      used_bytes: 0,
      models_loaded: 0,
    },
    quotas: [],
  };
}

/** One runtime, one loaded model and one quota, every field set (none zero where it could be). */
export function sampleStatus(): ClusterStatus {
  return {
    generated_at: '2026-01-01T00:00:03.000Z',
    runtimes: [
      {
        node_id: 'r1',
        alive: true,
        capacity_bytes: 1000,
        soft_limit_bytes: 900,
        used_bytes: 600,
        memory: {
          models_bytes: 500,
          loading_bytes: 100,
          unloading_bytes: 0,
          base_bytes: 7000,
        },
        rss_bytes: 8000,
        models_loaded: 1,
        started_at: '2026-01-01T00:00:00.000Z',
        last_seen_at: '2026-01-01T00:00:01.000Z',
      },
    ],
    models: [
      {
        model_id: 'm',
        version: 1,
        state: 'loaded',
        reason: null,
        nodes: ['r1'],
        memory_bytes: 500,
        last_used_at: '2026-01-01T00:00:02.000Z',
        hits: 7,
        misses: 2,
        loads: 2,
        evictions: 3,
        evictions_by_reason: { capacity: 2, ttl: 1 },
        load_ms: 12.5,
      },
    ],
    totals: {
      runtimes_alive: 1,
      capacity_bytes: 1000,
      used_bytes: 600,
      models_loaded: 1,
    },
    quotas: [
      { label: 'team', value: 'red', limit_bytes: 2000, used_bytes: 500 },
    ],
  };
}

export function modelRecord(id: string): ModelRecord {
  return {
    id,
    format: 'onnx',
    description: null,
    memory_estimate_bytes: null,
    memory_estimate_authoritative: false,
    preload: false,
    pinned: false,
    ttl_ms: null,
    labels: {},
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
  };
}

export function versionRecord(modelId: string, version: number): VersionRecord {
  return {
    model_id: modelId,
    version,
    format: 'onnx',
    artifact_uri: `local:${modelId}/${sha(version)}/model.onnx`,
    sha256: sha(version),
    size_bytes: 1000,
    signature: SIGNATURE,
    status: 'ready',
    created_at: '2026-01-01T00:00:00.000Z',
    measured: null,
  };
}
