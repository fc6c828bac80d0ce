/**
 * The smallest well-formed SavedModel protobuf (`saved_model.pb`): schema version 1 and
 * one MetaGraphDef tagged "serve" with an empty GraphDef. Real SavedModels are written
 * by TensorFlow's Python API, which this repository's tests do not have; this one is
 * enough to tell a SavedModel apart by content (and is refused for what it lacks).
 */
export function minimalSavedModelPb(): Uint8Array {
  const tag = Buffer.from('serve', 'utf8');
  // MetaInfoDef { tags (4): "serve" }
  const metaInfo = Buffer.concat([Buffer.from([0x22, tag.length]), tag]);
  // MetaGraphDef { meta_info_def (1): metaInfo, graph_def (2): {} }
  const metaGraph = Buffer.concat([
    Buffer.from([0x0a, metaInfo.length]),
    metaInfo,
    Buffer.from([0x12, 0x00]),
  ]);
  // SavedModel { saved_model_schema_version (1): 1, meta_graphs (2): metaGraph }
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x08, 0x01, 0x12, metaGraph.length]),
      metaGraph,
    ]),
  );
}
