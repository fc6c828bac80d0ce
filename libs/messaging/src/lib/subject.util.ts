import { BusError } from './bus';

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Splits and checks a subject; wildcards only where `allowWildcards` (subscriptions). */
export function subjectTokens(
  subject: string,
  allowWildcards: boolean,
): string[] {
  const tokens = subject.split('.');
  tokens.forEach((token, i) => {
    const wildcard =
      token === '*' || (token === '>' && i === tokens.length - 1);
    if (!(TOKEN.test(token) || (allowWildcards && wildcard))) {
      throw new BusError('INVALID_SUBJECT', `invalid subject "${subject}"`);
    }
  });
  return tokens;
}

const PLAIN_SUBJECT = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;

/**
 * Checks a subject to send on (no wildcards), as subjectTokens does but without
 * splitting it: it is on every request's path.
 */
export function assertPlainSubject(subject: string): void {
  if (!PLAIN_SUBJECT.test(subject))
    throw new BusError('INVALID_SUBJECT', `invalid subject "${subject}"`);
}

export function subjectMatches(
  pattern: readonly string[],
  subject: readonly string[],
): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '>') return subject.length > i;
    if (i >= subject.length) return false;
    if (p !== '*' && p !== subject[i]) return false;
  }
  return pattern.length === subject.length;
}
