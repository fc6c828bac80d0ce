import { el, fill } from '../dom';
import { formatBytes, formatPercent, hueOf } from '../format';
import { layoutRuntime, RuntimeLayout, Segment } from '../memory-layout';
import type { ClusterStatus } from '../types';

/** A segment's colour: its model's hue, or grey for what is not one model. */
function paint(node: HTMLElement, segment: Segment): void {
  if (segment.model_id !== null)
    node.style.backgroundColor = `hsl(${hueOf(segment.model_id)} 62% 52%)`;
}

const pct = (fraction: number) => `${(fraction * 100).toFixed(3)}%`;

function segmentNode(segment: Segment): HTMLElement {
  const node = el(
    'div',
    {
      class: `segment ${segment.kind}`,
      title: `${segment.label}: ${formatBytes(segment.bytes)}`,
      data: {
        kind: segment.kind,
        ...(segment.model_id !== null ? { model: segment.model_id } : {}),
        ...(segment.version !== null ? { version: segment.version } : {}),
      },
    },
    // A label only where it has room; the legend names every segment anyway.
    [segment.width > 0.08 ? el('span', { text: segment.label }) : null],
  );
  paint(node, segment);
  node.style.left = pct(segment.start);
  node.style.width = pct(segment.width);
  return node;
}

function limitMark(kind: 'soft' | 'hard', at: number, bytes: number) {
  const name = kind === 'soft' ? 'soft limit' : 'hard limit';
  const mark = el('div', {
    class: `limit ${kind}`,
    title: `${name}: ${formatBytes(bytes)}`,
    data: { limit: kind, bytes },
  });
  mark.style.left = pct(Math.min(1, at));
  const label = el('span', {
    class: `limit-label ${kind}`,
    text: `${kind} ${formatBytes(bytes)}`,
    data: { limit: kind },
  });
  // The hard limit's label sits left of its mark (it is at the bar's end).
  if (kind === 'hard') label.style.right = pct(Math.max(0, 1 - at));
  else label.style.left = pct(Math.min(1, at));
  return { mark, label };
}

function runtimeCard(layout: RuntimeLayout): HTMLElement {
  const soft = limitMark('soft', layout.soft_at, layout.soft_limit_bytes);
  const hard = limitMark('hard', layout.hard_at, layout.capacity_bytes);
  const share =
    layout.capacity_bytes > 0 ? layout.used_bytes / layout.capacity_bytes : 0;
  const bar = el(
    'div',
    {
      class: 'bar',
      attrs: {
        role: 'img',
        'aria-label': `${layout.node_id}: ${formatBytes(layout.used_bytes)} used of ${formatBytes(layout.capacity_bytes)}`,
      },
    },
    [...layout.segments.map(segmentNode), soft.mark, hard.mark],
  );
  const models = layout.segments.filter((s) => s.kind === 'model');
  return el(
    'article',
    {
      class: `runtime${layout.alive ? '' : ' lost'}${layout.used_bytes > layout.soft_limit_bytes ? ' over-soft' : ''}`,
      data: { node: layout.node_id },
    },
    [
      el('header', { class: 'runtime-head' }, [
        el('span', { class: 'node', text: layout.node_id }),
        el('span', {
          class: `badge ${layout.alive ? 'ok' : 'bad'}`,
          text: layout.alive ? 'alive' : 'lost',
        }),
        el('span', {
          class: 'usage',
          text: `${formatBytes(layout.used_bytes)} of ${formatBytes(layout.capacity_bytes)} (${formatPercent(share)})`,
        }),
        el('span', {
          class: 'muted',
          text: `${layout.models_loaded} loaded · process ${formatBytes(layout.rss_bytes)} · base ${formatBytes(layout.base_bytes)}`,
          title:
            'process: the runtime process as the OS counts it (RSS); base: what it held before any model, not counted against the limits',
        }),
      ]),
      el('div', { class: 'limit-labels' }, [soft.label, hard.label]),
      bar,
      el(
        'ul',
        { class: 'legend' },
        layout.segments.map((s) => {
          const swatch = el('span', { class: `swatch ${s.kind}` });
          paint(swatch, s);
          return el(
            'li',
            {
              data:
                s.model_id !== null ? { model: s.model_id } : { kind: s.kind },
            },
            [swatch, `${s.label} · ${formatBytes(s.bytes)}`],
          );
        }),
      ),
      models.length === 0 && layout.segments.length === 0
        ? el('p', { class: 'muted', text: 'No model loaded.' })
        : null,
    ],
  );
}

/** Each runtime's memory as a bar split into its models, with its soft and hard limits. */
export class MemoryPanel {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;

  constructor() {
    this.body = el('div', { class: 'runtimes' }, [
      el('p', { class: 'muted', text: 'Waiting for the cluster status…' }),
    ]);
    this.element = el('section', { class: 'panel', attrs: { id: 'memory' } }, [
      el('h2', { text: 'Runtime memory' }),
      this.body,
    ]);
  }

  update(status: ClusterStatus): void {
    fill(
      this.body,
      status.runtimes.length === 0
        ? [el('p', { class: 'muted', text: 'No runtime reports.' })]
        : status.runtimes.map((r) =>
            runtimeCard(layoutRuntime(r, status.models)),
          ),
    );
  }

  failed(message: string): void {
    fill(this.body, [el('p', { class: 'error', text: message })]);
  }
}
