import { Injectable } from '@nestjs/common';

import {
  Registry,
  ResolveVersionResponse,
  Signature,
} from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';
import { NamedTensor } from '@portfolio/tensor';

import { ModelCatalogService } from '../catalog/model-catalog.service';
import { ClusterInfoService } from '../v1/cluster-info.service';
import type { JsonElementBudget } from '../limits/json-elements';
import { PredictService } from '../v1/predict.service';

/**
 * What the server metadata reports. `version` is the workspace's version
 * (package.json), which no release process sets yet; `binary_tensor_data` is the one
 * protocol extension served (over REST; gRPC has raw contents of its own).
 */
export const SERVER_METADATA = {
  name: 'portfolio',
  version: '0.0.0',
  extensions: ['binary_tensor_data'],
} as const;

/** The health components an inference needs, and what their being down means. */
const NOT_READY_WHEN_DOWN: Readonly<Record<string, string>> = {
  bus: 'the message bus is disconnected',
  registry: 'the registry does not answer',
  cache_manager: 'the cache-manager does not answer',
  runtimes: 'no runtime is alive',
};

/** Triton's platform names, which KServe clients read too; other formats keep their own. */
const PLATFORM: Readonly<Record<string, string>> = { onnx: 'onnxruntime_onnx' };

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

/** What a protocol's codec makes of an inference request, given the version's signature. */
export interface DecodedInputs {
  /** Every input of the signature, in signature order. */
  readonly inputs: NamedTensor[];
  /** The outputs asked for, in the order asked; undefined: all of them. */
  readonly outputs?: string[];
}

/**
 * The Open Inference Protocol (KServe v2 / Triton) behind its envelopes: the REST
 * controllers (`/v2`) and the gRPC server both answer through this, so models,
 * versions, readiness, routing, loading and retries are the same whichever a client
 * speaks. Inference goes through PredictService, as `/v1` predict does. Errors are
 * PortfolioErrors (or TensorErrors) for each envelope to translate.
 */
@Injectable()
export class OpenInferenceService {
  constructor(
    private readonly catalog: ModelCatalogService,
    private readonly predictor: PredictService,
    private readonly messaging: Messaging,
    private readonly info: ClusterInfoService,
  ) {}

  /** What one request may send as JSON numbers (gateway.max_json_elements). */
  jsonBudget(): JsonElementBudget {
    return this.predictor.jsonBudget();
  }

  /**
   * Ready when an inference can be served: the bus, the registry and the cache-manager
   * answer and a runtime is alive (models load on demand, so none need be loaded).
   * Otherwise what is missing, in words.
   */
  async serverReadiness(): Promise<
    { ready: true } | { ready: false; missing: string[] }
  > {
    const { components } = await this.info.health();
    const missing = Object.entries(NOT_READY_WHEN_DOWN)
      .filter(
        ([c]) =>
          (components[c] as { status?: string } | undefined)?.status === 'down',
      )
      .map(([, why]) => why);
    return missing.length === 0 ? { ready: true } : { ready: false, missing };
  }

  /** The ready versions, and the signature of `version` or of the default one. */
  async modelMetadata(
    name: string,
    version: number | undefined,
  ): Promise<ModelMetadata> {
    const resolved = await this.catalog.resolve(name, version);
    const { versions } = await this.messaging.call(Registry.getModel, {
      id: name,
    });
    const signature = resolved.version.signature;
    return {
      name,
      versions: versions
        .filter((v) => v.status === 'ready')
        .map((v) => String(v.version)),
      platform: PLATFORM[resolved.model.format] ?? resolved.model.format,
      inputs: signature.inputs.map(describeTensor),
      outputs: signature.outputs.map(describeTensor),
    };
  }

  /**
   * Resolves when the version (or the default one) resolves: a request for it is
   * served, loaded on demand. MODEL_NOT_FOUND / VERSION_NOT_FOUND otherwise.
   */
  async modelReady(name: string, version: number | undefined): Promise<void> {
    await this.catalog.resolve(name, version);
  }

  /**
   * One inference: the version resolved, the request decoded against its signature by
   * the protocol's codec, the inputs predicted, and the outputs returned in the order
   * asked for (else the signature's).
   */
  async infer<R extends DecodedInputs>(
    name: string,
    version: number | undefined,
    decode: (signature: Signature) => R | Promise<R>,
  ): Promise<{ request: R; version: number; outputs: NamedTensor[] }> {
    const resolved = await this.catalog.resolve(name, version);
    const request = await decode(resolved.version.signature);
    const result = await this.predictor.infer(
      resolved,
      request.inputs,
      request.outputs,
    );
    return {
      request,
      version: resolved.version.version,
      outputs: orderedOutputs(resolved, result.outputs, request.outputs),
    };
  }
}

function describeTensor(spec: Signature['inputs'][number]): TensorMetadata {
  return { name: spec.name, datatype: spec.datatype, shape: spec.shape };
}

/** The outputs in the order asked for, or else in the signature's order. */
function orderedOutputs(
  resolved: ResolveVersionResponse,
  outputs: Record<string, NamedTensor | Omit<NamedTensor, 'name'>>,
  requested: readonly string[] | undefined,
): NamedTensor[] {
  const order =
    requested ?? resolved.version.signature.outputs.map((o) => o.name);
  return order
    .filter((n) => outputs[n] !== undefined)
    .map((n) => ({ ...outputs[n], name: n }));
}
