/**
 * Sizes as the deployment files write them. Portfolio's own (`2GiB`) are read by
 * @portfolio/config's parseSize, the one the apps use.
 */

const DOCKER_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
};

/**
 * A Compose memory size (`3G`, `512m`, `1gb`): Docker's units are powers of 1024 whatever
 * the case, with an optional trailing `b`.
 */
export function parseDockerMemory(text: string | number): number {
  if (typeof text === 'number') return text;
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(text.trim());
  if (!m) throw new Error(`not a Docker memory size: "${text}"`);
  return Math.round(Number(m[1]) * DOCKER_UNITS[m[2].toLowerCase()]);
}

const QUANTITY_SUFFIXES: Record<string, number> = {
  '': 1,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  Pi: 1024 ** 5,
  Ei: 1024 ** 6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** A Kubernetes resource quantity (`3Gi`, `512M`, `250m`, `1.5`) as a number (bytes, cores). */
export function parseQuantity(text: string | number): number {
  if (typeof text === 'number') return text;
  const m = /^(\d+(?:\.\d+)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$/.exec(
    text.trim(),
  );
  if (!m) throw new Error(`not a Kubernetes quantity: "${text}"`);
  return Number(m[1]) * QUANTITY_SUFFIXES[m[2] ?? ''];
}
