import { PortfolioError, Signature } from '@portfolio/contracts';
import {
  checkTensor,
  Datatype,
  isDatatype,
  NamedTensor,
  tensorFromJson,
  tensorFromRaw,
  tensorToFlat,
  tensorToRaw,
  Tensor,
  TensorSpec,
} from '@portfolio/tensor';
import { jsonPack, type JsonOffload, type Pack } from '../http/json-offload';
import type { JsonElementBudget } from '../limits/json-elements';

/*
 * The Open Inference Protocol (KServe v2 / Triton) inference request and response over
 * REST, with the binary tensor data extension:
 *
 * - the body is a JSON inference request, or, when the request carries
 *   `Inference-Header-Content-Length: N`, N bytes of JSON followed by the raw bytes of
 *   the inputs whose `parameters.binary_data_size` says so, in input order;
 * - outputs are returned as JSON `data` (flat, row-major), or as raw bytes after the
 *   JSON when asked (`parameters.binary_data` on a requested output, else
 *   `parameters.binary_data_output` on the request), the response then carrying
 *   `Inference-Header-Content-Length` itself.
 *
 * Every refusal is a PortfolioError (INVALID_REQUEST for the envelope, INVALID_INPUT
 * for a tensor) or a TensorError, both 400, with a message that names what is wrong.
 */

export const INFERENCE_HEADER_CONTENT_LENGTH =
  'inference-header-content-length';

export interface DecodedInferRequest {
  /** The client's `id`, echoed in the response. */
  readonly id?: string;
  /** Every input of the signature, in signature order. */
  readonly inputs: NamedTensor[];
  /** The outputs asked for, in the order asked; undefined: all of them. */
  readonly outputs?: string[];
  /** Whether an output goes back as raw bytes. */
  readonly binary: (output: string) => boolean;
}

/**
 * Splits and parses the body against the version's signature. `headerLength` is the
 * request's Inference-Header-Content-Length header, if any; `parsedJson`, the JSON part
 * already parsed (off the event loop: see jsonPartToOffload), if it was.
 */
export function decodeInferRequest(
  body: Uint8Array | undefined,
  headerLength: string | string[] | undefined,
  signature: Signature,
  modelId: string,
  jsonBudget?: JsonElementBudget,
  parsedJson?: unknown,
): DecodedInferRequest {
  const bytes = body ?? new Uint8Array(0);
  const jsonLength = parseHeaderLength(headerLength, bytes.byteLength);
  const request =
    parsedJson === undefined
      ? parseJsonHeader(bytes.subarray(0, jsonLength))
      : requireObject(parsedJson, 'the inference request');
  const binary = bytes.subarray(jsonLength);

  const id = request['id'];
  if (id !== undefined && typeof id !== 'string')
    throw invalidRequest(`"id" must be a string, got ${describe(id)}`);
  const parameters = optionalObject(request['parameters'], '"parameters"');

  const rawInputs = request['inputs'];
  if (!Array.isArray(rawInputs))
    throw invalidRequest('"inputs" must be an array of input tensors');
  const given = new Map<string, NamedTensor>();
  let offset = 0;
  rawInputs.forEach((raw: unknown, i: number) => {
    const input = requireObject(raw, `inputs[${i}]`);
    const name = input['name'];
    if (typeof name !== 'string')
      throw invalidRequest(`inputs[${i}] has no string "name"`);
    const spec = inputSpec(name, given, signature, modelId);
    const params = optionalObject(
      input['parameters'],
      `input "${name}": "parameters"`,
    );
    const size = params?.['binary_data_size'];
    let tensor;
    if (size === undefined) {
      if (input['data'] === undefined) {
        throw invalidInput(
          name,
          'has neither "data" nor parameters.binary_data_size',
        );
      }
      jsonBudget?.take(name, input);
      tensor = tensorFromJson(name, input, spec);
    } else {
      if (input['data'] !== undefined) {
        throw invalidInput(
          name,
          'has both "data" and parameters.binary_data_size; send one',
        );
      }
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
        throw invalidInput(
          name,
          `parameters.binary_data_size must be a non-negative integer, got ${describe(size)}`,
        );
      }
      if (headerLength === undefined) {
        throw invalidInput(
          name,
          'has parameters.binary_data_size, but the request has no Inference-Header-Content-Length header',
        );
      }
      if (size > binary.byteLength - offset) {
        throw invalidInput(
          name,
          `binary_data_size ${size} runs past the end of the body (${binary.byteLength - offset} bytes of binary data left)`,
        );
      }
      tensor = rawTensor(
        name,
        input['datatype'],
        input['shape'],
        spec,
        binary.subarray(offset, offset + size),
      );
      offset += size;
    }
    given.set(name, { name, ...tensor });
  });
  if (offset !== binary.byteLength) {
    throw invalidRequest(
      `the body has ${binary.byteLength - offset} bytes after the JSON header that no input's binary_data_size accounts for`,
    );
  }
  const inputs = inSignatureOrder(given, signature);

  const binaryAll = optionalBoolean(
    parameters?.['binary_data_output'],
    'parameters.binary_data_output',
  );
  const { outputs, binaryByOutput } = parseRequestedOutputs(
    request['outputs'],
    signature,
    modelId,
  );
  return {
    ...(id !== undefined ? { id } : {}),
    inputs,
    ...(outputs ? { outputs } : {}),
    binary: (output) => binaryByOutput.get(output) ?? binaryAll ?? false,
  };
}

export interface EncodedInferResponse {
  /** The whole response body: JSON, then the binary outputs' bytes, if any. */
  readonly body: Buffer;
  /** The JSON's length in bytes when binary outputs follow it; null for a JSON-only body. */
  readonly headerLength: number | null;
}

export interface InferResponse {
  modelId: string;
  version: number;
  id?: string;
  outputs: readonly NamedTensor[];
  binary: (output: string) => boolean;
}

/** The response body for `outputs` (in the order given). */
export function encodeInferResponse(
  response: InferResponse,
): EncodedInferResponse {
  const { value, raws } = responseParts(response, () => null);
  return withRaws(Buffer.from(JSON.stringify(value), 'utf8'), raws);
}

/**
 * As encodeInferResponse, the JSON written on the JSON offload thread when the
 * offload takes it (the same bytes, off the event loop).
 */
export async function encodeInferResponseOffloaded(
  response: InferResponse,
  offload: JsonOffload,
): Promise<EncodedInferResponse> {
  let elements = 0;
  for (const t of response.outputs)
    if (!response.binary(t.name)) elements += t.data.length;
  if (!offload.takesAnswer(elements)) return encodeInferResponse(response);
  const packs: Pack[] = [];
  const { value, raws } = responseParts(response, (i, t) => {
    const pack = jsonPack(['outputs', i, 'data'], t, { flat: true });
    if (pack) packs.push(pack);
    return pack;
  });
  const json = await offload.stringify(value, packs);
  return withRaws(
    Buffer.from(json.buffer, json.byteOffset, json.byteLength),
    raws,
  );
}

/**
 * The response's JSON value and the binary outputs' bytes; an output that `packed`
 * takes (a pack for the offload thread) gets `data: null` for now.
 */
function responseParts(
  response: InferResponse,
  packed: (index: number, t: NamedTensor) => Pack | null,
): { value: object; raws: Uint8Array[] } {
  const raws: Uint8Array[] = [];
  const outputs = response.outputs.map((t, i) => {
    const head = { name: t.name, datatype: t.datatype, shape: t.shape };
    if (!response.binary(t.name))
      return { ...head, data: packed(i, t) ? null : tensorToFlat(t) };
    const raw = tensorToRaw(t);
    raws.push(raw);
    return { ...head, parameters: { binary_data_size: raw.byteLength } };
  });
  return {
    value: {
      model_name: response.modelId,
      model_version: String(response.version),
      ...(response.id !== undefined ? { id: response.id } : {}),
      outputs,
    },
    raws,
  };
}

function withRaws(json: Buffer, raws: Uint8Array[]): EncodedInferResponse {
  if (raws.length === 0) return { body: json, headerLength: null };
  return {
    body: Buffer.concat([json, ...raws]),
    headerLength: json.byteLength,
  };
}

/**
 * The JSON part of a body the JSON offload thread takes, or null (a small one, or a
 * header the decoder will refuse).
 */
export function jsonPartToOffload(
  body: Uint8Array | undefined,
  headerLength: string | string[] | undefined,
  offload: JsonOffload,
): Uint8Array | null {
  if (!body) return null;
  let length: number;
  try {
    length = parseHeaderLength(headerLength, body.byteLength);
  } catch {
    return null;
  }
  return offload.takesBody(length) ? body.subarray(0, length) : null;
}

/** Offload's refusal of a JSON part, as parseJsonHeader words it. */
export function notValidJson(message: string): PortfolioError {
  return invalidRequest(`the inference request is not valid JSON: ${message}`);
}

function parseHeaderLength(
  header: string | string[] | undefined,
  bodyLength: number,
): number {
  if (header === undefined) return bodyLength;
  const value = Array.isArray(header) ? header.join(',') : header;
  if (!/^\d{1,15}$/.test(value.trim())) {
    throw invalidRequest(
      `Inference-Header-Content-Length must be a byte count, got "${value.slice(0, 40)}"`,
    );
  }
  const n = Number(value.trim());
  if (n > bodyLength) {
    throw invalidRequest(
      `Inference-Header-Content-Length is ${n}, but the body has only ${bodyLength} bytes`,
    );
  }
  return n;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function parseJsonHeader(bytes: Uint8Array): Record<string, unknown> {
  if (bytes.byteLength === 0)
    throw invalidRequest(
      'the body is empty; expected a JSON inference request',
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(strictUtf8.decode(bytes));
  } catch (e) {
    throw notValidJson(e instanceof Error ? e.message : String(e));
  }
  return requireObject(parsed, 'the inference request');
}

/**
 * The spec of the input `name`, which must be one of the signature's and not in `given`
 * yet (the inputs read so far). Shared by the REST and gRPC codecs.
 */
export function inputSpec(
  name: string,
  given: ReadonlyMap<string, unknown>,
  signature: Signature,
  modelId: string,
): TensorSpec {
  if (given.has(name)) throw invalidInput(name, 'is given more than once');
  const spec = signature.inputs.find((s) => s.name === name);
  if (!spec) {
    throw new PortfolioError(
      'INVALID_INPUT',
      `model "${modelId}" has no input "${name}" (inputs: ${names(signature.inputs)})`,
      { input: name, expected: signature.inputs.map((s) => s.name) },
    );
  }
  return spec;
}

/** Every input of the signature, in its order; one that was not given is refused. */
export function inSignatureOrder(
  given: ReadonlyMap<string, NamedTensor>,
  signature: Signature,
): NamedTensor[] {
  return signature.inputs.map((spec) => {
    const t = given.get(spec.name);
    if (!t) {
      throw invalidInput(
        spec.name,
        `is missing (expected ${spec.datatype} ${JSON.stringify(spec.shape)})`,
      );
    }
    return t;
  });
}

/**
 * An input's declared datatype and shape, checked against its spec: the datatype first,
 * since with the wrong one any later size error would only be a symptom.
 */
export function declaredTensor(
  name: string,
  datatype: unknown,
  shape: unknown,
  spec: TensorSpec,
): { datatype: Datatype; shape: number[] } {
  if (!isDatatype(datatype))
    throw invalidInput(name, `unknown datatype ${describe(datatype)}`);
  if (
    !Array.isArray(shape) ||
    !shape.every(
      (d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0,
    )
  ) {
    throw invalidInput(name, 'shape must be an array of non-negative integers');
  }
  if (datatype !== spec.datatype) {
    throw new PortfolioError(
      'INVALID_INPUT',
      `input "${name}": expected datatype ${spec.datatype}, got ${datatype}`,
      {
        input: name,
        expected: { datatype: spec.datatype, shape: spec.shape },
        got: { datatype, shape },
      },
    );
  }
  return { datatype, shape: shape as number[] };
}

/** A raw input (little-endian, row-major): its declaration checked, then its bytes read. */
export function rawTensor(
  name: string,
  datatype: unknown,
  shape: unknown,
  spec: TensorSpec,
  bytes: Uint8Array,
): Tensor {
  const declared = declaredTensor(name, datatype, shape, spec);
  const tensor = tensorFromRaw(name, declared.datatype, declared.shape, bytes);
  checkTensor(name, tensor, spec);
  return tensor;
}

function parseRequestedOutputs(
  raw: unknown,
  signature: Signature,
  modelId: string,
): { outputs?: string[]; binaryByOutput: Map<string, boolean> } {
  const binaryByOutput = new Map<string, boolean>();
  if (raw === undefined || raw === null) return { binaryByOutput };
  if (!Array.isArray(raw))
    throw invalidRequest('"outputs" must be an array of requested outputs');
  // An empty list asks for nothing in particular: every output, as when it is absent.
  if (raw.length === 0) return { binaryByOutput };
  const seen = new Set<string>();
  const outputs = raw.map((entry: unknown, i: number) => {
    const output = requireObject(entry, `outputs[${i}]`);
    const name = output['name'];
    if (typeof name !== 'string')
      throw invalidRequest(`outputs[${i}] has no string "name"`);
    const params = optionalObject(
      output['parameters'],
      `output "${name}": "parameters"`,
    );
    requestedOutput(name, params ?? {}, signature, modelId, seen);
    // `binary_data` is the protocol's name; `binary_data_output` is taken here too.
    const binary =
      optionalBoolean(
        params?.['binary_data'],
        `output "${name}": binary_data`,
      ) ??
      optionalBoolean(
        params?.['binary_data_output'],
        `output "${name}": binary_data_output`,
      );
    if (binary !== undefined) binaryByOutput.set(name, binary);
    return name;
  });
  return { outputs, binaryByOutput };
}

/**
 * Checks one requested output: one of the signature's, asked for once (`seen` holds the
 * names before it, and gets this one), without the classification extension (its
 * `parameters` are the request's, in either envelope's form). Shared with gRPC.
 */
export function requestedOutput(
  name: string,
  parameters: Readonly<Record<string, unknown>>,
  signature: Signature,
  modelId: string,
  seen: Set<string>,
): void {
  if (!signature.outputs.some((o) => o.name === name)) {
    throw new PortfolioError(
      'INVALID_INPUT',
      `model "${modelId}" has no output "${name}" (outputs: ${names(signature.outputs)})`,
      { output: name },
    );
  }
  if (seen.has(name))
    throw invalidRequest(`output "${name}" is requested more than once`);
  seen.add(name);
  if (parameters['classification'] !== undefined) {
    throw invalidRequest(
      `output "${name}": the classification extension is not supported`,
    );
  }
}

function requireObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalidRequest(
      `${what} must be a JSON object, got ${describe(value)}`,
    );
  return value as Record<string, unknown>;
}

function optionalObject(
  value: unknown,
  what: string,
): Record<string, unknown> | undefined {
  return value === undefined || value === null
    ? undefined
    : requireObject(value, what);
}

function optionalBoolean(value: unknown, what: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean')
    throw invalidRequest(
      `${what} must be true or false, got ${describe(value)}`,
    );
  return value;
}

function invalidRequest(message: string): PortfolioError {
  return new PortfolioError('INVALID_REQUEST', message);
}

export function invalidInput(name: string, message: string): PortfolioError {
  return new PortfolioError('INVALID_INPUT', `input "${name}" ${message}`, {
    input: name,
  });
}

function names(specs: readonly { name: string }[]): string {
  return specs.map((s) => s.name).join(', ');
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
