/**
 * What the benchmarks that run Portfolio's apps do through its admin API.
 */

/** Creates ONNX model `id` and uploads `modelBytes` as its first version; throws on any refusal. */
export async function registerOnnxModel(
  url: string,
  adminKey: string,
  id: string,
  modelBytes: Uint8Array,
): Promise<void> {
  const auth = { Authorization: `Bearer ${adminKey}` };
  const created = await fetch(`${url}/admin/models`, {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ id, format: 'onnx' }),
  });
  if (created.status !== 201)
    throw new Error(`register: ${created.status} ${await created.text()}`);
  const version = await fetch(`${url}/admin/models/${id}/versions`, {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/octet-stream' },
    body: modelBytes,
  });
  if (version.status !== 201)
    throw new Error(`upload: ${version.status} ${await version.text()}`);
}
