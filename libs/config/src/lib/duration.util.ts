const UNIT_MS = {
  d: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1_000,
  ms: 1,
} as const;
type DurationUnit = keyof typeof UNIT_MS;
/** Largest first: components of a combined duration must appear in this order. */
const UNIT_ORDER: readonly DurationUnit[] = ['d', 'h', 'm', 's', 'ms'];

const DURATION_HINT = 'expected seconds or e.g. 500ms, 90s, 15m, 1h, 1d';

const PLAIN_SECONDS = /^\d+(?:\.\d+)?$/;
/** `ms` is listed before `m` so "500ms" is never read as 500 minutes followed by "s". */
const COMPONENT = /(\d+(?:\.\d+)?)(ms|s|m|h|d) ?/y;

function invalidDuration(
  value: string | number,
  what: string | undefined,
): Error {
  const shown =
    typeof value === 'string' ? JSON.stringify(value) : String(value);
  const forWhat = what ? ` for ${what}` : '';
  return new Error(`invalid duration ${shown}${forWhat} (${DURATION_HINT})`);
}

function toWholeMs(
  ms: number,
  value: string | number,
  what: string | undefined,
): number {
  const rounded = Math.round(ms);
  if (!Number.isSafeInteger(rounded)) throw invalidDuration(value, what);
  return rounded;
}

/**
 * Parses a duration into whole milliseconds (rounded). A number, or a string
 * holding only a number, is SECONDS and may be fractional. Otherwise the string
 * is one or more `<number><unit>` components with units ms, s, m, h, d
 * (case-sensitive: "M" is not minutes), optionally separated by one space,
 * largest unit first and each unit at most once: "1h30m", "2m 30s".
 *
 * `what` only names the value in the error message.
 *
 * @throws Error with a message that shows the value and the accepted forms.
 */
export function parseDuration(value: string | number, what?: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0)
      throw invalidDuration(value, what);
    return toWholeMs(value * 1000, value, what);
  }
  if (typeof value !== 'string') throw invalidDuration(String(value), what);

  const text = value.trim();
  if (PLAIN_SECONDS.test(text))
    return toWholeMs(Number(text) * 1000, value, what);
  if (text === '') throw invalidDuration(value, what);

  let total = 0;
  let position = 0;
  let lastUnitIndex = -1;
  while (position < text.length) {
    COMPONENT.lastIndex = position;
    const match = COMPONENT.exec(text);
    if (!match) throw invalidDuration(value, what);
    const unit = match[2] as DurationUnit;
    const unitIndex = UNIT_ORDER.indexOf(unit);
    if (unitIndex <= lastUnitIndex) throw invalidDuration(value, what);
    lastUnitIndex = unitIndex;
    total += Number(match[1]) * UNIT_MS[unit];
    position = COMPONENT.lastIndex;
  }
  return toWholeMs(total, value, what);
}
