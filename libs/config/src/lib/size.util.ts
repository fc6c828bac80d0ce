const DECIMAL_UNITS = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12 } as const;
const BINARY_UNITS = {
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
} as const;
const UNIT_FACTORS: Readonly<Record<string, number>> = {
  ...DECIMAL_UNITS,
  ...BINARY_UNITS,
};

const SIZE_HINT =
  'expected bytes or a number with a unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB; e.g. 512MiB, 2GB';

/** A whole or decimal number, then at most one space, then an optional unit. */
const SIZE_PATTERN = /^(\d+(?:\.\d+)?) ?([a-z]+)?$/i;

function invalidSize(
  value: string | number,
  what: string | undefined,
  reason?: string,
): Error {
  const shown =
    typeof value === 'string' ? JSON.stringify(value) : String(value);
  const forWhat = what ? ` for ${what}` : '';
  return new Error(`invalid size ${shown}${forWhat} (${reason ?? SIZE_HINT})`);
}

/**
 * Parses a byte size. A number is a byte count and must be a non-negative
 * integer. A string is a number with an optional unit, case-insensitive:
 * B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).
 * Single-letter units (K, M, G) are refused on purpose: they are ambiguous
 * between the two families. Fractions are allowed with a multiplying unit and
 * rounded down; a fraction of a plain byte count is refused.
 *
 * `what` only names the value in the error message (e.g. "cache.max_memory").
 *
 * @throws Error with a message that shows the value and the accepted forms.
 */
export function parseSize(value: string | number, what?: string): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0)
      throw invalidSize(value, what);
    return value;
  }
  if (typeof value !== 'string') throw invalidSize(String(value), what);

  const match = SIZE_PATTERN.exec(value.trim());
  if (!match) throw invalidSize(value, what);
  const [, amountText, unitText] = match;
  const factor = UNIT_FACTORS[(unitText ?? 'b').toLowerCase()];
  if (factor === undefined) throw invalidSize(value, what);
  if (factor === 1 && amountText.includes('.'))
    throw invalidSize(value, what, 'a byte count must be a whole number');

  const bytes = Math.floor(Number(amountText) * factor);
  if (!Number.isSafeInteger(bytes)) throw invalidSize(value, what, 'too large');
  return bytes;
}

const FORMAT_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/**
 * Formats a byte count for people: IEC units, at most one decimal, no
 * trailing ".0" (e.g. "1.5 GiB", "512 MiB", "900 B").
 *
 * @throws RangeError for NaN and infinities, which are always a bug upstream.
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes))
    throw new RangeError(`formatBytes: not a finite number: ${bytes}`);
  if (bytes < 0) return `-${formatBytes(-bytes)}`;

  let unit = 0;
  let amount = bytes;
  while (amount >= 1024 && unit < FORMAT_UNITS.length - 1) {
    amount /= 1024;
    unit += 1;
  }
  let rounded = unit === 0 ? Math.round(amount) : Math.round(amount * 10) / 10;
  // 1023.96 MiB would round to "1024 MiB"; move it to the next unit instead.
  if (rounded >= 1024 && unit < FORMAT_UNITS.length - 1) {
    unit += 1;
    rounded = Math.round((rounded / 1024) * 10) / 10;
  }
  return `${rounded} ${FORMAT_UNITS[unit]}`;
}
