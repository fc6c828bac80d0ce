import type { ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, Options, PackageDefinition } from '@grpc/proto-loader';
import { join } from 'node:path';

/**
 * The protocol's .proto, beside this file in the source tree and beside main.js in a
 * built app (the apps' webpack configuration copies it there): `__dirname` is either.
 */
export const OIP_PROTO_FILE = 'grpc_predict_v2.proto';

export const OIP_SERVICE = 'inference.GRPCInferenceService';

/**
 * How messages become objects, on the server and in the tests' clients: field names as
 * in the .proto (`raw_input_contents`), 64-bit integers as decimal strings (exact, where
 * numbers would round past 2^53), and every field present (empty lists, '' and null
 * for an absent message), so that "not sent" needs no second case.
 */
export const OIP_LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

export function oipProtoPath(): string {
  return join(__dirname, OIP_PROTO_FILE);
}

export function loadOipPackage(
  path: string = oipProtoPath(),
): PackageDefinition {
  return loadSync(path, OIP_LOADER_OPTIONS);
}

/** The service's methods (`ServerLive`, ..., `ModelInfer`), to serve or to call. */
export function oipServiceDefinition(
  pkg: PackageDefinition = loadOipPackage(),
): ServiceDefinition {
  return pkg[OIP_SERVICE] as unknown as ServiceDefinition;
}

/** An inference parameter (`InferParameter`): one of its fields is set. */
export interface InferParameter {
  bool_param?: boolean;
  int64_param?: string;
  string_param?: string;
  double_param?: number;
  uint64_param?: string;
  parameter_choice?: string;
}

/**
 * A tensor's elements in the field of its datatype (`InferTensorContents`). 64-bit
 * integers are decimal strings as decoded (see OIP_LOADER_OPTIONS); on the way out,
 * numbers will do too.
 */
export interface InferTensorContents {
  bool_contents: boolean[];
  int_contents: number[];
  int64_contents: (string | number)[];
  uint_contents: number[];
  uint64_contents: (string | number)[];
  fp32_contents: number[];
  fp64_contents: number[];
  bytes_contents: Uint8Array[];
}

export interface InferInputTensor {
  name: string;
  datatype: string;
  shape: (string | number)[];
  parameters: Record<string, InferParameter>;
  contents: InferTensorContents | null;
}

export interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameter>;
  inputs: InferInputTensor[];
  outputs: { name: string; parameters: Record<string, InferParameter> }[];
  raw_input_contents: Uint8Array[];
}

export interface InferOutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  contents?: Partial<InferTensorContents>;
}

export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: InferOutputTensor[];
  raw_output_contents: Uint8Array[];
}
