import { applyDecorators } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiHeader,
  ApiOperation,
  ApiParam,
  ApiResponse,
  SchemaObject,
} from '@nestjs/swagger';

import { DatatypeSchema } from '@portfolio/contracts';

import { ApiJson, ApiOipErrors, openApiSchema } from '../openapi/openapi';

/*
 * The OpenAPI description of /v2, the Open Inference Protocol (docs/api.md). The infer
 * body is parsed by hand (decodeInferRequest in oip.codec.ts, next door), so its schema
 * is written here, after the protocol's and what the codec accepts.
 */

const DATATYPE = openApiSchema(DatatypeSchema);
const SHAPE: SchemaObject = { type: 'array', items: { type: 'integer' } };

export const NAME_PARAM = ApiParam({
  name: 'name',
  description: 'The model id.',
  example: 'iris',
});
export const VERSION_PARAM = ApiParam({
  name: 'version',
  description:
    'A version number, as a string in this protocol (a positive integer, else 400).',
  example: '1',
});

const BINARY_PARAMETERS: SchemaObject = {
  type: 'object',
  additionalProperties: true,
  properties: {
    binary_data_size: {
      type: 'integer',
      minimum: 0,
      description:
        "Binary extension: the tensor's raw bytes follow the JSON (no `data` then).",
    },
  },
};

/** A tensor: its metadata, and with `data` described, its data or raw-bytes size. */
function tensorSchema(data?: string): SchemaObject {
  return {
    type: 'object',
    required: ['name', 'datatype', 'shape'],
    properties: {
      name: { type: 'string' },
      datatype: DATATYPE,
      shape: SHAPE,
      ...(data
        ? {
            data: { type: 'array', items: {}, description: data },
            parameters: BINARY_PARAMETERS,
          }
        : {}),
    },
  };
}

export const INFER_REQUEST_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['inputs'],
  properties: {
    id: { type: 'string', description: 'Echoed in the response.' },
    parameters: {
      type: 'object',
      additionalProperties: true,
      properties: {
        binary_data_output: {
          type: 'boolean',
          description:
            'Return the outputs as raw bytes unless an output says otherwise.',
        },
      },
    },
    inputs: {
      type: 'array',
      description: 'Every input of the signature, each once.',
      items: tensorSchema(
        'Flat row-major, or nested following the shape; exactly the elements the shape calls for.',
      ),
    },
    outputs: {
      type: 'array',
      description:
        'The outputs to return, in that order; absent or empty: all.',
      items: {
        type: 'object',
        required: ['name'],
        properties: {
          name: { type: 'string' },
          parameters: {
            type: 'object',
            additionalProperties: true,
            properties: { binary_data: { type: 'boolean' } },
          },
        },
      },
    },
  },
};

export const INFER_REQUEST_EXAMPLE = {
  id: '42',
  parameters: { binary_data_output: false },
  inputs: [
    {
      name: 'x',
      shape: [2, 4],
      datatype: 'FP32',
      data: [5.1, 3.5, 1.4, 0.2, 7, 3.2, 4.7, 1.4],
    },
  ],
  outputs: [{ name: 'y', parameters: { binary_data: false } }],
};

const INFER_RESPONSE_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['model_name', 'model_version', 'outputs'],
  properties: {
    model_name: { type: 'string' },
    model_version: { type: 'string' },
    id: { type: 'string' },
    outputs: {
      type: 'array',
      items: tensorSchema('Flat, row-major.'),
    },
  },
};

const BINARY_BODY: SchemaObject = {
  type: 'string',
  format: 'binary',
  description:
    'Binary tensor extension: the first `Inference-Header-Content-Length` bytes are the JSON, the rest the raw tensors (little-endian, row-major; BOOL one byte; BYTES a 4-byte length then the bytes each), in order.',
};

export const InferDocs = (versioned: boolean) =>
  applyDecorators(
    ApiOperation({
      summary: versioned
        ? 'Run a version of a model'
        : 'Run a model (its default version)',
      description:
        'The body is read as bytes whatever its Content-Type (clients send none, `application/json` or `application/octet-stream`), up to gateway.body_limit.',
    }),
    NAME_PARAM,
    ...(versioned ? [VERSION_PARAM] : []),
    ApiHeader({
      name: 'Inference-Header-Content-Length',
      required: false,
      description:
        'Binary tensor extension: the length of the JSON part of the body; the raw tensors follow it.',
      schema: { type: 'integer', minimum: 0 },
    }),
    ApiConsumes('application/json', 'application/octet-stream'),
    ApiBody({
      schema: INFER_REQUEST_SCHEMA,
      examples: {
        json: { summary: 'JSON tensors', value: INFER_REQUEST_EXAMPLE },
      },
    }),
    ApiResponse({
      status: 200,
      description:
        "The outputs: JSON, or with raw outputs `application/octet-stream` (the JSON then its raw outputs, split at the response's `Inference-Header-Content-Length`).",
      headers: {
        'Inference-Header-Content-Length': {
          description: 'Only with raw outputs: the length of the JSON part.',
          schema: { type: 'integer' },
        },
      },
      content: {
        'application/json': {
          schema: INFER_RESPONSE_SCHEMA,
          example: {
            model_name: 'iris',
            model_version: '1',
            id: '42',
            outputs: [
              {
                name: 'y',
                datatype: 'FP32',
                shape: [2, 3],
                data: [0.99, 0.003, 0.0, 0.0002, 0.98, 0.012],
              },
            ],
          },
        },
        'application/octet-stream': { schema: BINARY_BODY },
      },
    }),
    ApiOipErrors({
      400: 'the body is not a JSON inference request; an unknown, missing, repeated or malformed input, a wrong shape or datatype, an unknown output; a malformed binary part; a model id or version that is not valid',
      404: 'the model is not registered, the version does not exist (or no version is ready)',
      413: 'the body is over gateway.body_limit, or the tensors are over what the bus carries to a runtime',
      422: 'the model failed to load',
      503: 'no runtime, or a service the request needs does not answer (Retry-After: 1)',
      504: 'the inference or the load took too long',
      507: 'the model does not fit',
    }),
  );

const NOT_FOUND = {
  400: 'the model id or version is not valid',
  404: 'the model is not registered, or the version does not exist (or no version is ready)',
  503: 'a service the request needs does not answer (Retry-After: 1)',
};

export const ModelMetadataDocs = (versioned: boolean) =>
  applyDecorators(
    ApiOperation({
      summary: versioned
        ? 'Metadata of a version'
        : 'Metadata of a model (its default version)',
      description:
        'The ready versions, and the signature of the version (or of the default one: where alias `production` points, else the highest ready); -1 for variable dimensions.',
    }),
    NAME_PARAM,
    ...(versioned ? [VERSION_PARAM] : []),
    ApiJson(
      200,
      'The model',
      {
        type: 'object',
        required: ['name', 'versions', 'platform', 'inputs', 'outputs'],
        properties: {
          name: { type: 'string' },
          versions: { type: 'array', items: { type: 'string' } },
          platform: { type: 'string' },
          inputs: { type: 'array', items: tensorSchema() },
          outputs: { type: 'array', items: tensorSchema() },
        },
      },
      {
        name: 'iris',
        versions: ['1', '2'],
        platform: 'onnxruntime_onnx',
        inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
        outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
      },
    ),
    ApiOipErrors(NOT_FOUND),
  );

export const ModelReadyDocs = (versioned: boolean) =>
  applyDecorators(
    ApiOperation({
      summary: versioned
        ? 'Whether a version can be served'
        : 'Whether a model can be served',
      description:
        'Ready when the version (or the default one) resolves: loaded or not, a request for it is served.',
    }),
    NAME_PARAM,
    ...(versioned ? [VERSION_PARAM] : []),
    ApiJson(
      200,
      'Ready',
      {
        type: 'object',
        required: ['name', 'ready'],
        properties: { name: { type: 'string' }, ready: { type: 'boolean' } },
      },
      { name: 'iris', ready: true },
    ),
    ApiOipErrors(NOT_FOUND),
  );

export const ServerMetadataDocs = () =>
  applyDecorators(
    ApiOperation({ summary: 'Server metadata: name, version, extensions' }),
    ApiJson(
      200,
      'The server',
      {
        type: 'object',
        required: ['name', 'version', 'extensions'],
        properties: {
          name: { type: 'string' },
          version: { type: 'string' },
          extensions: { type: 'array', items: { type: 'string' } },
        },
      },
      {
        name: 'portfolio',
        version: '0.0.0',
        extensions: ['binary_tensor_data'],
      },
    ),
  );

export const LiveDocs = () =>
  applyDecorators(
    ApiOperation({ summary: 'Liveness: the process answers' }),
    ApiJson(
      200,
      'Live',
      {
        type: 'object',
        required: ['live'],
        properties: { live: { type: 'boolean' } },
      },
      { live: true },
    ),
  );

const READY_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['ready'],
  properties: { ready: { type: 'boolean' }, error: { type: 'string' } },
};

export const ReadyDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Readiness: an inference can be served',
      description:
        'Ready when the bus, the registry and the cache-manager answer and a runtime is alive (models load on demand, so none need be loaded).',
    }),
    ApiJson(200, 'Ready', READY_SCHEMA, { ready: true }),
    ApiResponse({
      status: 503,
      description: 'Not ready, saying what is missing (`Retry-After: 1`)',
      content: {
        'application/json': {
          schema: READY_SCHEMA,
          example: { ready: false, error: 'not ready: no runtime is alive' },
        },
      },
    }),
  );
