import { randomBytes } from 'node:crypto';

/**
 * A fresh subject prefix `t.<label tokens>.<random>` so concurrent tests (and
 * leftovers of earlier runs) on one NATS server never see each other's
 * messages. Label characters outside [A-Za-z0-9_-] become '_'; dots in the
 * label separate tokens and empty tokens are dropped, so the result is always
 * a valid subject with no wildcards.
 */
export function uniqueSubjectPrefix(label?: string): string {
  const tokens = (label ?? '')
    .split('.')
    .map((token) => token.replace(/[^A-Za-z0-9_-]/g, '_'))
    .filter((token) => token.length > 0);
  return ['t', ...tokens, randomBytes(6).toString('hex')].join('.');
}
