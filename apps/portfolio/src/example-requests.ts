import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { ConfiguredModel } from '@portfolio/config';

/** What a curl line sends when keys are needed: the key from the shell's environment. */
export const KEY_HEADER = `-H "Authorization: Bearer $PORTFOLIO_API_KEY" `;

/**
 * A curl line per configured model that works as printed: a prediction when the model
 * ships a `samples.json` beside it (`{ "inputs": ... }`), its metadata otherwise. With
 * `withKey`, each line sends `$PORTFOLIO_API_KEY` (auth is on).
 */
export function exampleRequests(
  url: string,
  models: readonly ConfiguredModel[],
  withKey = false,
): string[] {
  const key = withKey ? KEY_HEADER : '';
  return models.map((m) => {
    const samples = join(dirname(m.path), 'samples.json');
    if (existsSync(samples)) {
      try {
        const parsed = JSON.parse(readFileSync(samples, 'utf8')) as {
          inputs?: unknown;
        };
        if (parsed.inputs !== undefined) {
          const body = JSON.stringify({ inputs: parsed.inputs }).replace(
            /'/g,
            `'\\''`,
          );
          return `  predict: curl -s ${key}-X POST ${url}/v1/models/${m.id}/predict -H 'Content-Type: application/json' -d '${body}'`;
        }
      } catch {
        // Fall through to the metadata line.
      }
    }
    return `  model:   curl -s ${key}${url}/v1/models/${m.id}/metadata`;
  });
}
