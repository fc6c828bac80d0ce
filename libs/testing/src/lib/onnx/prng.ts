/**
 * mulberry32: a 32-bit seeded PRNG returning floats in [0, 1). Chosen because
 * it is tiny, fast and fully specified, so a seed produces the same weights on
 * every platform and Node version (Math.random cannot be seeded).
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
