import { Inject, Injectable } from '@nestjs/common';

import {
  CacheManager,
  EnsureLoadedResponse,
  inferSubject,
  InferHeader,
  InferReplyHeader,
  isPortfolioError,
  PortfolioError,
  ResolveVersionResponse,
  Runtime,
  Signature,
} from '@portfolio/contracts';
import { BusMessage, Messaging } from '@portfolio/messaging';
import {
  attachedFrame,
  DecodedFrame,
  decodeFrame,
  encodeFrame,
  frameDataBytes,
  NamedTensor,
  PackedNumbers,
  Tensor,
  tensorFromJson,
} from '@portfolio/tensor';

import { ModelCatalogService } from '../catalog/model-catalog.service';
import { GatewayMetrics } from '../metrics/gateway-metrics';
import { RoutingTableService } from '../routing/routing-table.service';
import { GATEWAY_SETTINGS, GatewaySettings } from '../gateway.settings';
import {
  DEFAULT_MAX_JSON_ELEMENTS,
  JsonElementBudget,
} from '../limits/json-elements';

/**
 * A request to a runtime that has not answered after this long makes the gateway ask
 * the runtime whether it is still there (a ping, answered by its event loop however
 * busy its model is), and again every LIVENESS_INTERVAL_MS while the request waits.
 * Slow models are waited for; dead runtimes are not: their connection is gone, so the
 * ping finds no responder at once. A ping with no answer in time may be a hung process
 * or one whose connection has a backlog of requests to read before it (a thousand
 * requests at once): it is asked again after LIVENESS_RECHECK_MS, and only a second
 * silence in a row counts as gone.
 */
export const LIVENESS_CHECK_AFTER_MS = 500;
export const LIVENESS_INTERVAL_MS = 1000;
export const LIVENESS_RECHECK_MS = 200;
export const LIVENESS_PING_TIMEOUT_MS = 300;

type Liveness = 'alive' | 'silent' | 'gone';

/** The runtime a request was waiting on stopped answering pings: it is gone. */
class RuntimeLostError extends PortfolioError {
  constructor(readonly nodeId: string) {
    super(
      'SERVICE_UNAVAILABLE',
      `runtime ${nodeId} stopped answering while it ran the request`,
      { node_id: nodeId },
    );
  }
}

/** An infer request as it goes on the bus (see PredictService.inferMessage). */
interface InferMessage {
  readonly data: Uint8Array;
  readonly attachment?: DecodedFrame;
}

const NO_BYTES = new Uint8Array(0);

export interface InferenceResult {
  readonly resolved: ResolveVersionResponse;
  readonly outputs: Record<string, Tensor>;
  readonly nodeId: string;
}

/**
 * The prediction path: resolve the model (cached registry view), validate and encode
 * the inputs, find a runtime that holds it (routing table, the copy with the fewest
 * requests in flight; on a miss, the cache-manager loads it), run, decode. A runtime
 * that vanished (no responder, or no answer to a liveness ping while the request
 * waits) or lost the model gets the request retried once elsewhere (inference is
 * idempotent).
 */
/** Requests in flight per (model, version) through one gateway, unless configured. */
export const DEFAULT_MAX_IN_FLIGHT = 1024;

@Injectable()
export class PredictService {
  private readonly inFlightByModel = new Map<string, number>();
  private readonly livenessChecks = new Map<
    string,
    { at: number; alive: Promise<Liveness> }
  >();

  constructor(
    private readonly messaging: Messaging,
    private readonly catalog: ModelCatalogService,
    private readonly routing: RoutingTableService,
    private readonly metrics: GatewayMetrics,
    @Inject(GATEWAY_SETTINGS) private readonly settings: GatewaySettings,
  ) {}

  /** Parses the `inputs` of a v1 request against the version's signature. */
  parseV1Inputs(
    body: unknown,
    resolved: ResolveVersionResponse,
  ): NamedTensor[] {
    if (
      typeof body !== 'object' ||
      body === null ||
      Array.isArray(body) ||
      !('inputs' in body)
    ) {
      throw new PortfolioError(
        'INVALID_REQUEST',
        'the request body must be a JSON object with "inputs"',
      );
    }
    const signature = resolved.version.signature;
    const inputs = (body as { inputs: unknown }).inputs;
    if (Array.isArray(inputs) || inputs instanceof PackedNumbers) {
      if (signature.inputs.length !== 1) {
        throw new PortfolioError(
          'INVALID_INPUT',
          `model "${resolved.model.id}" has ${signature.inputs.length} inputs (${names(signature.inputs)}); name them: {"inputs": {"<name>": ...}}`,
        );
      }
      const spec = signature.inputs[0];
      this.jsonBudget().take(spec.name, inputs);
      return [{ name: spec.name, ...tensorFromJson(spec.name, inputs, spec) }];
    }
    if (typeof inputs !== 'object' || inputs === null) {
      throw new PortfolioError(
        'INVALID_REQUEST',
        '"inputs" must be an object mapping input names to tensors (or, for a single-input model, one array)',
      );
    }
    const given = inputs as Record<string, unknown>;
    for (const name of Object.keys(given)) {
      if (!signature.inputs.some((s) => s.name === name)) {
        throw new PortfolioError(
          'INVALID_INPUT',
          `model "${resolved.model.id}" has no input "${name}" (inputs: ${names(signature.inputs)})`,
          { input: name, expected: signature.inputs.map((s) => s.name) },
        );
      }
    }
    const budget = this.jsonBudget();
    for (const spec of signature.inputs)
      if (spec.name in given) budget.take(spec.name, given[spec.name]);
    return signature.inputs.map((spec) => {
      if (!(spec.name in given)) {
        throw new PortfolioError(
          'INVALID_INPUT',
          `input "${spec.name}" is missing (expected ${spec.datatype} ${JSON.stringify(spec.shape)})`,
          {
            input: spec.name,
          },
        );
      }
      return {
        name: spec.name,
        ...tensorFromJson(spec.name, given[spec.name], spec),
      };
    });
  }

  /** What one request may send as JSON numbers (see JsonElementBudget). */
  jsonBudget(): JsonElementBudget {
    return new JsonElementBudget(
      this.settings.maxJsonElements ?? DEFAULT_MAX_JSON_ELEMENTS,
    );
  }

  /** `?outputs=a,b`: checked against the signature; all outputs when absent. */
  parseOutputs(
    raw: string | undefined,
    signature: Signature,
    modelId: string,
  ): string[] | undefined {
    if (raw === undefined || raw === '') return undefined;
    const wanted = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const name of wanted) {
      if (!signature.outputs.some((o) => o.name === name)) {
        throw new PortfolioError(
          'INVALID_INPUT',
          `model "${modelId}" has no output "${name}" (outputs: ${names(signature.outputs)})`,
          {
            output: name,
          },
        );
      }
    }
    return wanted;
  }

  /**
   * Runs one inference. At most `maxInFlightPerModel` requests per (model, version) are
   * in flight through this gateway; one more gets 503 with Retry-After at once rather
   * than joining an unbounded queue (a client that floods one model cannot hold the
   * gateway's memory, and the others learn quickly that it is saturated).
   */
  async infer(
    resolved: ResolveVersionResponse,
    inputs: NamedTensor[],
    outputs?: string[],
  ): Promise<InferenceResult> {
    const k = `${resolved.model.id}@${resolved.version.version}`;
    const inFlight = this.inFlightByModel.get(k) ?? 0;
    const max = this.settings.maxInFlightPerModel ?? DEFAULT_MAX_IN_FLIGHT;
    if (inFlight >= max)
      throw new PortfolioError(
        'SERVICE_UNAVAILABLE',
        `${k} already has ${inFlight} requests in flight through this gateway, the most it takes (gateway.max_in_flight_per_model); retry shortly`,
        { model_id: resolved.model.id, in_flight: inFlight, limit: max },
      );
    this.inFlightByModel.set(k, inFlight + 1);
    try {
      return await this.inferNow(resolved, inputs, outputs);
    } finally {
      const left = (this.inFlightByModel.get(k) ?? 1) - 1;
      if (left > 0) this.inFlightByModel.set(k, left);
      else this.inFlightByModel.delete(k);
    }
  }

  private async inferNow(
    resolved: ResolveVersionResponse,
    inputs: NamedTensor[],
    outputs?: string[],
  ): Promise<InferenceResult> {
    const modelId = resolved.model.id;
    const version = resolved.version.version;
    const header: InferHeader = {
      model_id: modelId,
      version,
      ...(outputs ? { outputs } : {}),
      timeout_ms: this.settings.requestTimeoutMs,
    };
    const message = this.inferMessage(header, inputs);

    let nodeId = this.routing.pick(modelId, version);
    if (nodeId === null) {
      const ensured = await this.ensure(modelId, version, {});
      nodeId = ensured.node_id;
      this.metrics.countLookup(modelId, version, ensured.loaded_now);
    } else {
      this.metrics.countLookup(modelId, version, false);
    }
    try {
      return { resolved, nodeId, outputs: await this.send(nodeId, message) };
    } catch (e) {
      if (!(e instanceof PortfolioError)) throw e;
      const gone =
        e instanceof RuntimeLostError ||
        (e.code === 'SERVICE_UNAVAILABLE' &&
          e.details?.['bus'] === 'no_responders');
      const lost = e.code === 'MODEL_NOT_LOADED';
      if (!gone && !lost) throw e;
      this.metrics.countRetry(
        e instanceof RuntimeLostError
          ? 'runtime_lost'
          : gone
            ? 'no_responders'
            : 'model_not_loaded',
      );
      if (gone) this.routing.forgetNode(nodeId);
      else this.routing.forget(modelId, version, nodeId);
      nodeId = (
        await this.ensure(
          modelId,
          version,
          gone ? { exclude_nodes: [nodeId] } : { stale_nodes: [nodeId] },
        )
      ).node_id;
      return { resolved, nodeId, outputs: await this.send(nodeId, message) };
    }
  }

  /**
   * On the in-process bus (standalone), the header and the input tensors themselves
   * travel as the request's attachment: no frame is encoded here or decoded by the
   * runtime, which answers the same way. Over NATS, one binary frame (PTF1). Either
   * way the inputs must fit in what the bus carries (in process: the tensors' bytes).
   * The inputs are never modified on the way, so a retry sends them again as they are.
   */
  private inferMessage(
    header: InferHeader,
    inputs: NamedTensor[],
  ): InferMessage {
    const inProcess = this.messaging.bus.kind === 'in-process';
    const data = inProcess ? NO_BYTES : encodeFrame(header, inputs);
    const bytes = inProcess ? frameDataBytes(inputs) : data.byteLength;
    const max = this.messaging.bus.maxPayloadBytes();
    if (bytes > max) {
      throw new PortfolioError(
        'PAYLOAD_TOO_LARGE',
        `the inputs take ${bytes} bytes, more than the message bus carries to a runtime (${max}); send a smaller batch`,
      );
    }
    return inProcess
      ? { data, attachment: { header, tensors: inputs } }
      : { data };
  }

  private async ensure(
    modelId: string,
    version: number,
    hints: { exclude_nodes?: string[]; stale_nodes?: string[] },
  ): Promise<EnsureLoadedResponse> {
    let res;
    try {
      res = await this.messaging.call(
        CacheManager.ensureLoaded,
        { model_id: modelId, version, ...hints },
        { timeoutMs: this.settings.loadTimeoutMs },
      );
    } catch (e) {
      if (
        e instanceof PortfolioError &&
        e.code === 'SERVICE_UNAVAILABLE' &&
        e.details?.['bus'] === 'no_responders'
      ) {
        throw new PortfolioError(
          'SERVICE_UNAVAILABLE',
          `${modelId}@${version} is not loaded and the cache-manager is not reachable`,
        );
      }
      throw e;
    }
    this.routing.learn(modelId, version, res.node_id);
    return res;
  }

  private async send(
    nodeId: string,
    message: InferMessage,
  ): Promise<Record<string, Tensor>> {
    const done = this.routing.track(nodeId);
    let reply: BusMessage;
    try {
      reply = await this.whileAlive(
        nodeId,
        this.messaging.requestRaw(
          inferSubject(this.messaging.prefix, nodeId),
          message.data,
          {
            timeoutMs: this.settings.requestTimeoutMs,
            attachment: message.attachment,
            name: 'runtime.<target>.infer.v1',
          },
        ),
      );
    } finally {
      done();
    }
    // The runtime's own objects when it answered in process (no frame, nothing to check).
    const decoded =
      attachedFrame(reply.attachment) ?? replyFrame(reply.data, nodeId);
    const out: Record<string, Tensor> = {};
    for (const t of decoded.tensors)
      out[t.name] = { datatype: t.datatype, shape: t.shape, data: t.data };
    return out;
  }

  /**
   * Settles as `request` does, unless the runtime stops answering pings while it
   * waits: then rejects at once with RuntimeLostError (the request's own outcome, when
   * it comes, is dropped).
   */
  private whileAlive<T>(nodeId: string, request: Promise<T>): Promise<T> {
    // In one process (standalone), the runtime cannot vanish while the gateway waits.
    if (this.messaging.bus.kind === 'in-process') return request;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const settle = (finish: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        finish();
      };
      let silences = 0;
      const check = async () => {
        const liveness = await this.answersPing(nodeId);
        if (settled) return;
        silences = liveness === 'silent' ? silences + 1 : 0;
        if (liveness === 'gone' || silences >= 2)
          settle(() => reject(new RuntimeLostError(nodeId)));
        else
          timer = setTimeout(
            check,
            silences > 0 ? LIVENESS_RECHECK_MS : LIVENESS_INTERVAL_MS,
          );
      };
      timer = setTimeout(check, LIVENESS_CHECK_AFTER_MS);
      request.then(
        (value) => settle(() => resolve(value)),
        (e: unknown) => settle(() => reject(e)),
      );
    });
  }

  /**
   * `gone` when nobody serves the runtime's ping, `silent` when it does not answer in
   * time. A bus that is itself disconnected tells nothing about the runtime (and fails
   * the request anyway), so that counts as alive. Requests waiting on the same runtime
   * share a check begun less than a ping's timeout ago: a thousand slow requests make
   * a few pings a second, not a thousand. (One entry per runtime ever asked.)
   */
  private answersPing(nodeId: string): Promise<Liveness> {
    const now = Date.now();
    const recent = this.livenessChecks.get(nodeId);
    if (recent && now - recent.at < LIVENESS_PING_TIMEOUT_MS)
      return recent.alive;
    const alive = this.messaging
      .call(
        Runtime.ping,
        {},
        { target: nodeId, timeoutMs: LIVENESS_PING_TIMEOUT_MS },
      )
      .then(
        (): Liveness => 'alive',
        (e: unknown): Liveness => {
          if (!isPortfolioError(e)) return 'alive';
          if (e.code === 'TIMEOUT') return 'silent';
          return e.code === 'SERVICE_UNAVAILABLE' &&
            e.details?.['bus'] === 'no_responders'
            ? 'gone'
            : 'alive';
        },
      );
    this.livenessChecks.set(nodeId, { at: now, alive });
    return alive;
  }
}

/** A runtime's reply frame, its header checked. */
function replyFrame(data: Uint8Array, nodeId: string): DecodedFrame {
  const decoded = decodeFrame(data);
  if (!InferReplyHeader.safeParse(decoded.header).success)
    throw new PortfolioError(
      'INTERNAL',
      `malformed reply from runtime ${nodeId}`,
    );
  return decoded;
}

function names(specs: readonly { name: string }[]): string {
  return specs.map((s) => s.name).join(', ');
}
