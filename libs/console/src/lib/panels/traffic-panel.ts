import { el, fill, svg } from '../dom';
import { formatMs, formatPercent, formatRate } from '../format';
import { sparklinePoints } from '../sparkline';
import type { TrafficSample, TrafficStats } from '../types';

const WIDTH = 240;
const HEIGHT = 48;

interface Series {
  readonly name: string;
  readonly values: readonly (number | null)[];
}

interface Card {
  readonly metric: string;
  readonly title: string;
  readonly series: readonly Series[];
  /** The latest value, as text. */
  readonly now: string;
  /** The scale's top: fixed for ratios, else the series' own. */
  readonly max?: number;
  readonly note: string;
}

function cards(stats: TrafficStats): Card[] {
  const s: readonly TrafficSample[] = stats.samples;
  const last = s[s.length - 1];
  const perSecond = (x: TrafficSample, n: number) =>
    x.interval_ms > 0 ? (n * 1000) / x.interval_ms : 0;
  // The latest sample with predictions, for the figures beside the lines.
  const lastLatency = [...s].reverse().find((x) => x.latency_ms !== null);
  const lastRatio = [...s].reverse().find((x) => x.hit_ratio !== null);
  const minutes = Math.round((s.length * stats.interval_ms) / 60_000);
  const span = `last ${minutes || '<1'} min, a point per ${stats.interval_ms / 1000} s`;
  return [
    {
      metric: 'predictions',
      title: 'Predictions',
      series: [
        {
          name: 'predictions',
          values: s.map((x) => perSecond(x, x.predictions)),
        },
        { name: 'errors', values: s.map((x) => perSecond(x, x.errors)) },
      ],
      now: last ? formatRate(perSecond(last, last.predictions)) : '–',
      note: span,
    },
    {
      metric: 'latency',
      title: 'Latency p50 / p99',
      series: [
        { name: 'p50', values: s.map((x) => x.latency_ms?.p50 ?? null) },
        { name: 'p99', values: s.map((x) => x.latency_ms?.p99 ?? null) },
      ],
      now: lastLatency?.latency_ms
        ? `${formatMs(lastLatency.latency_ms.p50)} / ${formatMs(lastLatency.latency_ms.p99)}`
        : '–',
      note: 'HTTP predictions through this gateway',
    },
    {
      metric: 'hit-ratio',
      title: 'Hit ratio',
      series: [{ name: 'hit ratio', values: s.map((x) => x.hit_ratio) }],
      now: formatPercent(lastRatio?.hit_ratio),
      max: 1,
      note: 'predictions that found their model loaded',
    },
  ];
}

function sparkline(card: Card): SVGSVGElement {
  const all = card.series.flatMap((x) =>
    x.values.filter((v): v is number => v !== null),
  );
  const max = card.max ?? Math.max(0, ...all);
  return svg(
    'svg',
    {
      class: 'sparkline',
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      preserveAspectRatio: 'none',
      role: 'img',
      'aria-label': `${card.title}: ${card.now}`,
      'data-metric': card.metric,
    },
    [
      svg('line', {
        class: 'baseline',
        x1: 0,
        y1: HEIGHT,
        x2: WIDTH,
        y2: HEIGHT,
      }),
      ...card.series.flatMap((series, i) =>
        sparklinePoints(series.values, WIDTH, HEIGHT, max).map((points) =>
          svg('polyline', {
            class: `line line-${i}`,
            points,
            'data-series': series.name,
          }),
        ),
      ),
    ],
  );
}

/** Sparklines of this gateway's recent traffic: predictions, latency, hit ratio. */
export class TrafficPanel {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;

  constructor() {
    this.body = el('div', { class: 'sparklines' }, [
      el('p', { class: 'muted', text: 'Waiting for the first sample…' }),
    ]);
    this.element = el('section', { class: 'panel', attrs: { id: 'traffic' } }, [
      el('h2', { text: 'Traffic (this gateway)' }),
      this.body,
    ]);
  }

  update(stats: TrafficStats): void {
    if (stats.samples.length === 0) return;
    fill(
      this.body,
      cards(stats).map((card) =>
        el('figure', { class: 'spark-card', data: { metric: card.metric } }, [
          el('figcaption', {}, [
            el('span', { class: 'spark-title', text: card.title }),
            el('span', {
              class: 'spark-now',
              text: card.now,
              data: { metric: card.metric },
            }),
          ]),
          sparkline(card),
          el('div', { class: 'legend-line small muted' }, [
            ...card.series.map((s, i) =>
              el('span', { class: `key key-${i}`, text: s.name }),
            ),
            el('span', { text: card.note }),
          ]),
        ]),
      ),
    );
  }

  failed(message: string): void {
    fill(this.body, [el('p', { class: 'error', text: message })]);
  }
}
