import { PortfolioError, Signature } from '@portfolio/contracts';
import {
  checkTensor,
  elementCount,
  NamedTensor,
  tensorToRaw,
} from '@portfolio/tensor';

import {
  declaredTensor,
  inputSpec,
  inSignatureOrder,
  invalidInput,
  rawTensor,
  requestedOutput,
} from '../v2/oip.codec';
import { DecodedInputs } from '../v2/open-inference.service';
import type { ModelInferRequest, ModelInferResponse } from './oip-grpc.proto';
import {
  contentsField,
  filledFields,
  tensorFromContents,
  tensorToContents,
} from './tensor-contents.codec';

/*
 * ModelInfer's request and response (the gRPC form of the Open Inference Protocol)
 * against a version's signature. The checks on names, datatypes, shapes and outputs
 * are the REST codec's (oip.codec.ts), so both envelopes refuse the same requests with
 * the same messages; what is gRPC's own is where the elements are: typed contents in
 * each input, or raw_input_contents for all of them (never both).
 */

export interface DecodedGrpcInfer extends DecodedInputs {
  readonly id: string;
  /** Whether the inputs came raw: the outputs go back raw then. */
  readonly raw: boolean;
}

export function decodeModelInferRequest(
  request: ModelInferRequest,
  signature: Signature,
  modelId: string,
): DecodedGrpcInfer {
  const raws = request.raw_input_contents;
  const raw = raws.length > 0;
  if (raw) {
    const typed = request.inputs.find(
      (i) => filledFields(i.contents).length > 0,
    );
    if (typed)
      throw invalidInput(
        typed.name,
        'has typed contents, but the request has raw_input_contents too; send one or the other',
      );
    if (raws.length !== request.inputs.length)
      throw invalid(
        `raw_input_contents has ${raws.length} entries for ${request.inputs.length} inputs; send one per input, in input order`,
      );
  }
  const given = new Map<string, NamedTensor>();
  request.inputs.forEach((input, i) => {
    const name = input.name;
    const spec = inputSpec(name, given, signature, modelId);
    // int64 dimensions arrive as decimal strings; anything not a count is refused there.
    const shape = input.shape.map(Number);
    if (raw) {
      given.set(name, {
        name,
        ...rawTensor(name, input.datatype, shape, spec, raws[i]),
      });
      return;
    }
    const declared = declaredTensor(name, input.datatype, shape, spec);
    if (
      filledFields(input.contents).length === 0 &&
      elementCount(declared.shape) > 0
    ) {
      const field = contentsField(declared.datatype);
      throw invalidInput(
        name,
        field
          ? `has no contents: send its elements in contents.${field}, or every input in raw_input_contents`
          : `has no contents: ${declared.datatype} travels in raw_input_contents only`,
      );
    }
    const tensor = tensorFromContents(
      name,
      declared.datatype,
      declared.shape,
      input.contents ?? {},
    );
    checkTensor(name, tensor, spec);
    given.set(name, { name, ...tensor });
  });

  const seen = new Set<string>();
  for (const output of request.outputs)
    requestedOutput(output.name, output.parameters, signature, modelId, seen);
  return {
    id: request.id,
    raw,
    inputs: inSignatureOrder(given, signature),
    ...(seen.size > 0 ? { outputs: [...seen] } : {}),
  };
}

/**
 * The response for `outputs` (in that order): raw_output_contents when the inputs came
 * raw or an output has no typed field (FP16; the protocol allows no mix), else typed
 * contents in each output.
 */
export function encodeModelInferResponse(response: {
  modelId: string;
  version: number;
  id: string;
  outputs: readonly NamedTensor[];
  raw: boolean;
}): ModelInferResponse {
  const raw =
    response.raw ||
    response.outputs.some((t) => contentsField(t.datatype) === null);
  return {
    model_name: response.modelId,
    model_version: String(response.version),
    id: response.id,
    outputs: response.outputs.map((t) => ({
      name: t.name,
      datatype: t.datatype,
      shape: t.shape,
      ...(raw ? {} : { contents: tensorToContents(t) ?? {} }),
    })),
    raw_output_contents: raw ? response.outputs.map(tensorToRaw) : [],
  };
}

function invalid(message: string): PortfolioError {
  return new PortfolioError('INVALID_REQUEST', message);
}
