/**
 * The polylines of a sparkline `width` x `height` (SVG units, y down) for `values`
 * spread evenly across the width, scaled from 0 (bottom) to `max` (top; default: the
 * largest value), 2 units in from either edge;
 * a null value breaks the line (an interval with nothing to show). Each polyline is its
 * `points` attribute; a lone value between gaps is drawn as a short flat stroke.
 */
export function sparklinePoints(
  values: readonly (number | null)[],
  width: number,
  height: number,
  max?: number,
): string[] {
  const finite = values.filter(
    (v): v is number => v !== null && Number.isFinite(v),
  );
  if (finite.length === 0) return [];
  const top = max ?? Math.max(...finite);
  const scale = top > 0 ? top : 1;
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  // A stroke's width of room at the top and bottom, so a line at 0 or at the top shows.
  const pad = Math.min(2, height / 4);
  const y = (v: number) =>
    round(
      height - pad - Math.min(1, Math.max(0, v / scale)) * (height - 2 * pad),
    );
  const lines: string[] = [];
  let run: [number, number][] = [];
  const flush = () => {
    if (run.length === 1) {
      // One point: a stroke as wide as a step (the whole width when it is alone).
      const [x, yy] = run[0];
      const half = values.length > 1 ? step / 2 : width / 2;
      const from = Math.max(0, x - half);
      const to = Math.min(width, x + half);
      run = [
        [round(from), yy],
        [round(to), yy],
      ];
    }
    if (run.length > 0) lines.push(run.map(([a, b]) => `${a},${b}`).join(' '));
    run = [];
  };
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      flush();
      return;
    }
    run.push([round(values.length > 1 ? i * step : width / 2), y(v)]);
  });
  flush();
  return lines;
}

const round = (n: number) => Math.round(n * 10) / 10;
