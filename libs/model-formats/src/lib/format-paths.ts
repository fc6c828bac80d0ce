import { PortfolioError } from '@portfolio/contracts';

/** Up to five of an upload's paths, quoted, for a message. */
export function describePaths(paths: readonly string[]): string {
  const shown = paths.slice(0, 5).map((p) => `"${p.slice(0, 100)}"`);
  return paths.length > 5
    ? `${shown.join(', ')} and ${paths.length - 5} more`
    : shown.join(', ') || 'nothing';
}

/**
 * The one path among `paths` that `matches`, or INVALID_ARTIFACT saying there is none
 * or several; `what` names it in the message ("a .onnx file", "a model.json").
 */
export function theOnly(
  paths: readonly string[],
  matches: (path: string) => boolean,
  what: string,
  whatPlural: string,
): string {
  const found = paths.filter(matches);
  if (found.length === 1) return found[0];
  throw new PortfolioError(
    'INVALID_ARTIFACT',
    found.length === 0
      ? `the upload holds no ${what} (${describePaths(paths)})`
      : `the upload holds ${found.length} ${whatPlural} (${describePaths(found)}); a version is one model: upload one with the files it reads`,
  );
}
