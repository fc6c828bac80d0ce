import { el, fill } from '../dom';
import { formatBytes, formatClock, formatMs } from '../format';
import type { StreamState } from '../sse';
import type { ModelEvent } from '../types';

/** Entries the page keeps (the server keeps 500; the newest are what matter here). */
export const TIMELINE_KEPT = 200;

const KIND_LABEL: Record<ModelEvent['kind'], string> = {
  loaded: 'loaded',
  unloaded: 'unloaded',
  load_failed: 'load failed',
};

const STATE_LABEL: Record<StreamState, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  refused: 'refused',
};

/** What else there is to say about an event: memory freed or taken, load time. */
function details(e: ModelEvent): string {
  const parts: string[] = [];
  if (e.bytes !== null)
    parts.push(
      e.kind === 'unloaded'
        ? `freed ${formatBytes(e.bytes)}`
        : formatBytes(e.bytes),
    );
  if (e.load_ms !== null) parts.push(`in ${formatMs(e.load_ms)}`);
  return parts.join(' · ');
}

/**
 * Loads, unloads and failed loads as they happen, newest first, each with its reason
 * (why it was loaded, why evicted, why it failed). Events are told apart by their
 * content as well as their id: a stream that reconnects to another gateway gets the
 * events that one holds, some of which this page has shown already.
 */
export class TimelinePanel {
  readonly element: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly state: HTMLElement;
  private readonly events: ModelEvent[] = [];
  private readonly seen = new Set<string>();
  private pending = false;

  constructor() {
    this.list = el('ol', { class: 'timeline' });
    this.state = el('span', {
      class: 'stream-state',
      text: STATE_LABEL.connecting,
      data: { state: 'connecting' },
    });
    this.element = el(
      'section',
      { class: 'panel', attrs: { id: 'timeline' } },
      [el('h2', {}, ['Loads and evictions ', this.state]), this.list],
    );
    this.render();
  }

  setState(state: StreamState, detail?: string): void {
    this.state.textContent = detail
      ? `${STATE_LABEL[state]}: ${detail}`
      : STATE_LABEL[state];
    this.state.setAttribute('data-state', state);
  }

  add(event: ModelEvent): void {
    const key = [
      event.kind,
      event.model_id,
      event.version,
      event.node_id,
      event.at,
    ].join('|');
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.events.unshift(event);
    // Newest first; an event that arrives late (another gateway's) goes where its time is.
    this.events.sort((a, b) => b.at.localeCompare(a.at));
    while (this.events.length > TIMELINE_KEPT) {
      const gone = this.events.pop();
      if (gone)
        this.seen.delete(
          [gone.kind, gone.model_id, gone.version, gone.node_id, gone.at].join(
            '|',
          ),
        );
    }
    // A stream starts with up to 500 events at once: drawn once, not 500 times.
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => {
      this.pending = false;
      this.render();
    }, 50);
  }

  private render(): void {
    fill(
      this.list,
      this.events.length === 0
        ? [
            el('li', {
              class: 'muted empty',
              text: 'No load or eviction yet.',
            }),
          ]
        : this.events.map((e) =>
            el(
              'li',
              {
                class: `event ${e.kind}`,
                data: {
                  kind: e.kind,
                  model: e.model_id,
                  version: e.version,
                  node: e.node_id,
                  reason: e.reason ?? '',
                },
              },
              [
                el('div', { class: 'event-head' }, [
                  el('time', {
                    text: formatClock(e.at),
                    attrs: { datetime: e.at },
                    title: e.at,
                  }),
                  el('span', {
                    class: `badge kind-${e.kind}`,
                    text: KIND_LABEL[e.kind],
                  }),
                  el('span', {
                    class: 'what',
                    text: `${e.model_id} v${e.version}`,
                  }),
                ]),
                el('div', { class: 'event-body' }, [
                  el('span', { class: 'muted', text: `on ${e.node_id}` }),
                  el('span', {
                    class: 'reason',
                    text: e.reason ?? '',
                    data: { field: 'reason' },
                  }),
                  el('span', { class: 'muted small', text: details(e) }),
                ]),
              ],
            ),
          ),
    );
  }
}
