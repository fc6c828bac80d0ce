import { PortfolioError } from '@portfolio/contracts';

import {
  FileProtoReader,
  ProtoFormatError,
  WIRE_LEN,
  WIRE_VARINT,
} from '../protobuf/file-proto-reader';

/**
 * Whether the file at `path` is a SavedModel's `saved_model.pb`, by its content: a
 * SavedModel protobuf holds only `saved_model_schema_version` (1, varint) and
 * `meta_graphs` (2, messages whose own fields are MetaGraphDef's 1..7). An ONNX model,
 * whose first bytes look alike (field 1 varint, field 2 bytes), also has its graph
 * (field 7) and opsets (field 8) at the top level, so it is told apart.
 */
export function isSavedModelFile(path: string): boolean {
  let reader: FileProtoReader;
  try {
    reader = new FileProtoReader(path);
  } catch {
    return false;
  }
  try {
    if (reader.size === 0) return false;
    let metaGraphs = 0;
    for (const field of reader.fields(0, reader.size)) {
      if (field.number === 1 && field.wireType === WIRE_VARINT) continue;
      if (field.number !== 2 || field.wireType !== WIRE_LEN) return false;
      // The first meta graph is enough to tell the file's kind; the others are seeked over.
      if (metaGraphs++ === 0) {
        for (const inner of reader.fields(field.start, field.end)) {
          if (
            inner.number < 1 ||
            inner.number > 7 ||
            inner.wireType !== WIRE_LEN
          )
            return false;
        }
      }
    }
    return metaGraphs > 0;
  } catch (e) {
    if (e instanceof ProtoFormatError) return false;
    throw e;
  } finally {
    reader.close();
  }
}

export const SAVED_MODEL_NEEDS_TFJS_NODE =
  'a TensorFlow SavedModel needs @tensorflow/tfjs-node, which is not installed on this server (npm install @tensorflow/tfjs-node); TF.js layers and graph models (model.json) load without it';

export function savedModelUnavailable(): PortfolioError {
  return new PortfolioError('FORMAT_UNAVAILABLE', SAVED_MODEL_NEEDS_TFJS_NODE);
}
