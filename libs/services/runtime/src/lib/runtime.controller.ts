import {
  BeforeApplicationShutdown,
  Controller,
  Inject,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { Payload } from '@nestjs/microservices';

import {
  inferSubject,
  InferHeader,
  InferReplyHeader,
  PingResponse,
  PortfolioError,
  RpcRequest,
  RpcResponse,
  Runtime,
  SUPPORTED_FORMATS,
} from '@portfolio/contracts';
import {
  BusMessage,
  BusReply,
  BusRpc,
  BusSubscription,
  describeIssues,
  Messaging,
} from '@portfolio/messaging';
import { StartupError } from '@portfolio/bootstrap';
import { withoutTrace } from '@portfolio/telemetry';
import {
  attachedFrame,
  DecodedFrame,
  decodeFrame,
  encodeFrame,
  frameDataBytes,
  NamedTensor,
  Tensor,
} from '@portfolio/tensor';

import { ModelHostService } from './model-host.service';
import { RUNTIME_SETTINGS, RuntimeSettings } from './runtime.settings';

const NO_BYTES = new Uint8Array(0);

function requestFrame(data: Uint8Array): DecodedFrame {
  try {
    return decodeFrame(data);
  } catch (e) {
    throw new PortfolioError(
      'INVALID_REQUEST',
      `malformed tensor frame: ${(e as Error).message}`,
    );
  }
}

function requestHeader(frame: DecodedFrame): InferHeader {
  const header = InferHeader.safeParse(frame.header);
  if (!header.success)
    throw new PortfolioError(
      'INVALID_REQUEST',
      `infer header: ${describeIssues(header.error)}`,
    );
  return header.data;
}

/** How long an answer to the node id check is waited for; "nobody listens" comes at once. */
const NODE_ID_CHECK_TIMEOUT_MS = 2000;

/** The token whose value is this runtime's node id: its load and unload subjects. */
export const RUNTIME_NODE_ID = Symbol('runtime node id');

/**
 * The runtime's bus surface: load and unload addressed to this node (contract
 * handlers), inference and ping (raw subscriptions, made once the node id is known to
 * be free: ping is how that is checked, and inference is the data path), and the
 * heartbeat that tells the cache-manager what this node holds (sent every interval,
 * and at once after any change).
 */
@Controller()
export class RuntimeController
  implements OnApplicationBootstrap, BeforeApplicationShutdown
{
  private readonly logger = new Logger('Runtime');
  private subscriptions: BusSubscription[] = [];
  private readonly startedAt = new Date().toISOString();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private seq = 0;
  private beatScheduled = false;
  private stopListening: (() => void) | null = null;

  constructor(
    private readonly messaging: Messaging,
    private readonly host: ModelHostService,
    @Inject(RUNTIME_SETTINGS) private readonly settings: RuntimeSettings,
  ) {}

  @BusRpc(Runtime.load, { target: RUNTIME_NODE_ID })
  load(
    @Payload() req: RpcRequest<typeof Runtime.load>,
  ): Promise<RpcResponse<typeof Runtime.load>> {
    return this.host.load(req);
  }

  @BusRpc(Runtime.unload, { target: RUNTIME_NODE_ID })
  unload(
    @Payload() req: RpcRequest<typeof Runtime.unload>,
  ): Promise<RpcResponse<typeof Runtime.unload>> {
    return this.host.unload(req.model_id, req.version, req.reason);
  }

  async onApplicationBootstrap(): Promise<void> {
    const m = this.messaging;
    const node = this.settings.nodeId;
    await this.assertNodeIdFree();
    this.subscriptions = [
      m.serve(
        Runtime.ping,
        () => ({
          service: 'runtime',
          instance: node,
          started_at: this.startedAt,
        }),
        { target: node },
      ),
      m.serveRaw(inferSubject(m.prefix, node), (msg) => this.infer(msg), {
        name: 'runtime.<target>.infer.v1',
      }),
    ];
    this.stopListening = this.host.onChange(() => this.beatSoon());
    this.heartbeatTimer = setInterval(
      () => this.beat(),
      this.settings.heartbeatIntervalMs,
    );
    // The first beat makes the cache-manager place models here, so it waits for the
    // next turn: by then load and unload listen (createBusApp subscribes them right
    // after the bootstrap hooks, in this same turn; the standalone app before them).
    this.beatSoon();
    this.logger.log(
      `runtime ${node} ready: ${this.settings.workers} workers, capacity ${this.settings.capacityBytes} bytes`,
    );
  }

  /**
   * Two runtimes with one node id would share its subjects: loads, inferences and
   * heartbeats of both mixed up under one name. Whoever answers the node's ping already
   * holds the id, and this runtime refuses to start. (Two started in the same instant
   * can both miss each other; this catches the usual mistake, a copied configuration.)
   */
  private async assertNodeIdFree(): Promise<void> {
    const node = this.settings.nodeId;
    const where = `as "${node}" on subject prefix "${this.messaging.prefix}"`;
    const advice =
      'start this runtime with another node id (PORTFOLIO_RUNTIME_NODE_ID or runtime.node_id), or stop the other one';
    let other: PingResponse;
    try {
      other = await this.messaging.call(
        Runtime.ping,
        {},
        { target: node, timeoutMs: NODE_ID_CHECK_TIMEOUT_MS },
      );
    } catch (e) {
      if (
        e instanceof PortfolioError &&
        e.code === 'SERVICE_UNAVAILABLE' &&
        e.details?.['bus'] === 'no_responders'
      )
        return;
      if (e instanceof PortfolioError && e.code === 'TIMEOUT')
        throw new StartupError(
          `runtime node id "${node}" may be in use: something listens ${where} but did not answer a ping within ${NODE_ID_CHECK_TIMEOUT_MS} ms; ${advice}`,
        );
      throw e;
    }
    throw new StartupError(
      `runtime node id "${node}" is already in use: a runtime started at ${other.started_at} answers ${where}; ${advice}`,
    );
  }

  /** Before the host drains and closes its workers: take no new work, say we are leaving. */
  beforeApplicationShutdown(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.stopListening?.();
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions = [];
    // Lets the cache-manager re-route at once instead of waiting for the timeout.
    this.messaging.emit(Runtime.stopping, { node_id: this.settings.nodeId });
  }

  /**
   * One inference. From a gateway in this process (the in-process bus), the header and
   * tensors come as the message's attachment, built by the gateway from its checked
   * request, and the reply goes back the same way: no frame either way. Over NATS, a
   * frame each way, its header checked here.
   */
  private async infer(msg: BusMessage): Promise<BusReply> {
    const attached = attachedFrame(msg.attachment);
    const frame = attached ?? requestFrame(msg.data);
    const { model_id, version, outputs, timeout_ms } = attached
      ? (attached.header as InferHeader)
      : requestHeader(frame);
    const inputs: Record<string, Tensor> = {};
    for (const t of frame.tensors) inputs[t.name] = t;

    // Input problems come back from the host as PortfolioError INVALID_INPUT.
    const result = await this.host.infer(
      model_id,
      version,
      inputs,
      outputs,
      timeout_ms,
    );
    const replyHeader: InferReplyHeader = {
      model_id,
      version,
      node_id: this.settings.nodeId,
      compute_ms: result.computeMs,
    };
    const tensors: NamedTensor[] = Object.entries(result.outputs).map(
      ([name, t]) => ({ name, ...t }),
    );
    const data = attached ? NO_BYTES : encodeFrame(replyHeader, tensors);
    const bytes = attached ? frameDataBytes(tensors) : data.byteLength;
    const max = this.messaging.bus.maxPayloadBytes();
    if (bytes > max) {
      throw new PortfolioError(
        'PAYLOAD_TOO_LARGE',
        `the outputs of ${model_id}@${version} take ${bytes} bytes, more than the message bus carries (${max}); ask for fewer outputs or a smaller batch, or raise NATS max_payload`,
      );
    }
    return attached
      ? { data, attachment: { header: replyHeader, tensors } }
      : { data };
  }

  private beatSoon(): void {
    if (this.beatScheduled) return;
    this.beatScheduled = true;
    setImmediate(() => {
      this.beatScheduled = false;
      // A report of state, not part of the request whose change scheduled it.
      withoutTrace(() => this.beat());
    });
  }

  private beat(): void {
    const cache = this.host.artifactCacheStats();
    this.messaging.emit(Runtime.heartbeat, {
      node_id: this.settings.nodeId,
      started_at: this.startedAt,
      seq: this.seq++,
      state_version: this.host.stateVersion,
      interval_ms: this.settings.heartbeatIntervalMs,
      capacity_bytes: this.settings.capacityBytes,
      soft_limit_bytes: this.settings.softLimitBytes,
      used_bytes: this.host.usedBytes(),
      base_bytes: this.host.baseBytes(),
      rss_bytes: process.memoryUsage.rss(),
      workers: this.settings.workers,
      formats: [...SUPPORTED_FORMATS],
      models: this.host.report(),
      ...(cache
        ? {
            artifact_cache: {
              used_bytes: cache.usedBytes,
              max_bytes: cache.maxBytes,
              entries: cache.entries,
              in_use_bytes: cache.inUseBytes,
            },
          }
        : {}),
    });
  }
}
