import type { Tensor } from '@portfolio/tensor';

/**
 * Buffers to transfer (not copy) with a postMessage. Only for buffers this thread owns
 * outright: never for views into a network buffer or Node's Buffer pool, which other
 * objects share (transferring would detach them). Duplicates are dropped: listing one
 * buffer twice is an error.
 */
export function transferList(tensors: Record<string, Tensor>): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  for (const t of Object.values(tensors)) {
    if (!Array.isArray(t.data) && t.data.buffer instanceof ArrayBuffer)
      seen.add(t.data.buffer);
  }
  return [...seen];
}

/**
 * Copies tensors received from the bus into ONE fresh buffer that can be transferred
 * to a worker: one copy instead of a structured clone of the whole message buffer.
 */
export function packForTransfer(tensors: Record<string, Tensor>): {
  tensors: Record<string, Tensor>;
  buffer: ArrayBuffer;
} {
  let total = 0;
  for (const t of Object.values(tensors))
    if (!Array.isArray(t.data)) total += align8(t.data.byteLength);
  const buffer = new ArrayBuffer(total);
  const bytes = new Uint8Array(buffer);
  const out: Record<string, Tensor> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (Array.isArray(t.data)) {
      out[name] = t;
      continue;
    }
    const src = new Uint8Array(
      t.data.buffer,
      t.data.byteOffset,
      t.data.byteLength,
    );
    bytes.set(src, offset);
    const Ctor = t.data.constructor as new (
      b: ArrayBuffer,
      o: number,
      n: number,
    ) => typeof t.data;
    out[name] = { ...t, data: new Ctor(buffer, offset, t.data.length) };
    offset += align8(t.data.byteLength);
  }
  return { tensors: out, buffer };
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
