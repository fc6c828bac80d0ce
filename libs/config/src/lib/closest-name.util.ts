function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * Known names the user most likely meant, or [] when nothing is obvious.
 * A typo (a few edits, scaled with the length) wins; failing that, names that
 * contain the written words in order ("PORTFOLIO_PORT" -> "PORTFOLIO_GATEWAY_PORT",
 * "PORTFOLIO_NATS_TIMEOUT" -> "PORTFOLIO_NATS_REQUEST_TIMEOUT"). More than two
 * equally good candidates is not obvious, so nothing is suggested then.
 */
export function closestNames(
  name: string,
  known: readonly string[],
  sharedPrefix = '',
): string[] {
  const tail = name.startsWith(sharedPrefix)
    ? name.slice(sharedPrefix.length)
    : name;
  if (tail === '') return [];
  const tailOf = (candidate: string) => candidate.slice(sharedPrefix.length);

  const threshold = Math.max(1, Math.floor(tail.length / 4));
  const scored = known.map((candidate) => ({
    candidate,
    distance: editDistance(tail, tailOf(candidate)),
  }));
  const best = Math.min(...scored.map((s) => s.distance));
  if (best <= threshold) {
    const typos = scored
      .filter((s) => s.distance === best)
      .map((s) => s.candidate);
    if (typos.length <= 2) return typos;
  }

  const words = tail.split('_');
  const byWords = known.filter((candidate) =>
    containsInOrder(tailOf(candidate).split('_'), words),
  );
  return byWords.length > 0 && byWords.length <= 2 ? byWords : [];
}

/** Whether `needles` occur in `haystack` in the same order, possibly with gaps. */
function containsInOrder(
  haystack: readonly string[],
  needles: readonly string[],
): boolean {
  let next = 0;
  for (const word of haystack) if (word === needles[next]) next += 1;
  return next === needles.length;
}
