/**
 * What the runtime unloads, and in which order, when its process's RSS goes above its
 * hard limit plus its base: extra copies of models first (nothing is lost), then whole
 * models least recently used first, pinned models last. The host offers only what is
 * idle (no request in flight), so a request is never cut short.
 */
export interface GuardCandidate {
  readonly key: string;
  /** An extra copy of the model (the model stays loaded), or null: the model itself. */
  readonly copy: number | null;
  readonly bytes: number;
  readonly pinned: boolean;
  /** Last request, else when it loaded (ms since the epoch). */
  readonly lastUsedMs: number;
}

/** The fewest candidates, in the order above, whose memory covers `excessBytes`. */
export function chooseGuardVictims(
  candidates: readonly GuardCandidate[],
  excessBytes: number,
): GuardCandidate[] {
  const rank = (c: GuardCandidate) => (c.copy !== null ? 0 : c.pinned ? 2 : 1);
  const ordered = [...candidates].sort(
    (a, b) => rank(a) - rank(b) || a.lastUsedMs - b.lastUsedMs,
  );
  const victims: GuardCandidate[] = [];
  let covered = 0;
  for (const c of ordered) {
    if (covered >= excessBytes) break;
    victims.push(c);
    covered += c.bytes;
  }
  return victims;
}
