import { el, fill } from '../dom';
import { formatBytes, formatMs, hueOf } from '../format';
import type { ClusterStatus, ModelMetadata, ModelStatus } from '../types';

/** What an admin key may do from the table; absent for other keys (no controls drawn). */
export interface ModelActions {
  load(modelId: string, version: number): Promise<void>;
  unload(modelId: string, version: number): Promise<void>;
  promote(modelId: string, version: number): Promise<void>;
}

type Action = keyof ModelActions;

/** One row: a version of a model, as the registry and the cache-manager know it. */
export interface VersionRow {
  readonly model_id: string;
  readonly version: number | null;
  readonly status: 'ready' | 'deprecated' | null;
  readonly is_default: boolean;
  readonly aliases: readonly string[];
  readonly cache: ModelStatus | null;
}

/**
 * The rows of the table, models in id order and each model's versions newest first:
 * the versions the metadata lists, and any the cache-manager reports that it does not
 * (yet). A model with neither has one row without a version.
 */
export function versionRows(
  status: ClusterStatus,
  metadata: ReadonlyMap<string, ModelMetadata>,
): VersionRow[][] {
  const ids = [
    ...new Set([...status.models.map((m) => m.model_id), ...metadata.keys()]),
  ].sort();
  return ids.map((id) => {
    const meta = metadata.get(id);
    const cache = status.models.filter((m) => m.model_id === id);
    const versions = new Set<number>(meta?.versions.map((v) => v.version));
    for (const m of cache) if (m.version !== null) versions.add(m.version);
    if (versions.size === 0)
      return [
        {
          model_id: id,
          version: null,
          status: null,
          is_default: false,
          aliases: [],
          cache: cache[0] ?? null,
        },
      ];
    return [...versions]
      .sort((a, b) => b - a)
      .map((v) => ({
        model_id: id,
        version: v,
        status: meta?.versions.find((x) => x.version === v)?.status ?? null,
        is_default: meta?.default_version === v,
        aliases: Object.entries(meta?.aliases ?? {})
          .filter(([, target]) => target === v)
          .map(([alias]) => alias)
          .sort(),
        cache: cache.find((m) => m.version === v) ?? null,
      }));
  });
}

/** A cell as drawn: what it shows (`sig`), and how to make it. */
interface Cell {
  readonly sig: string;
  build(): HTMLElement;
}

/** A row as drawn: its key, its attributes and its cells. */
interface Row {
  readonly key: string;
  readonly data: Readonly<Record<string, string | number>>;
  readonly className: string;
  readonly cells: readonly Cell[];
}

/** The elements of a row on the page, and what each cell shows. */
interface Drawn {
  readonly tr: HTMLTableRowElement;
  sigs: string[];
}

/**
 * The models with their versions, aliases and cache states; load, unload and promote for
 * admins. The table is redrawn every status read, but only the cells whose content
 * changed are replaced: a button is not swapped for another between the press and the
 * release of a click (which would lose it) because a counter in its row moved.
 */
export class ModelsPanel {
  readonly element: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  /** `model@version` with an action in flight: its buttons wait. */
  private readonly busy = new Set<string>();
  private readonly drawn = new Map<string, Drawn>();
  private last: {
    status: ClusterStatus;
    metadata: ReadonlyMap<string, ModelMetadata>;
  } | null = null;

  constructor(private readonly actions: ModelActions | null) {
    this.body = el('tbody');
    const heads = [
      'Model',
      'Version',
      'Status',
      'Aliases',
      'State',
      'Runtimes',
      'Memory',
      'Hits / misses',
      ...(actions ? ['Actions'] : []),
    ];
    this.element = el('section', { class: 'panel', attrs: { id: 'models' } }, [
      el('h2', { text: 'Models' }),
      el('div', { class: 'table-wrap' }, [
        el('table', { class: 'models' }, [
          el('thead', {}, [
            el(
              'tr',
              {},
              heads.map((h) => el('th', { text: h, attrs: { scope: 'col' } })),
            ),
          ]),
          this.body,
        ]),
      ]),
    ]);
  }

  update(
    status: ClusterStatus,
    metadata: ReadonlyMap<string, ModelMetadata>,
  ): void {
    this.last = { status, metadata };
    const groups = versionRows(status, metadata);
    const rows =
      groups.length === 0
        ? [this.emptyRow()]
        : groups.flatMap((group) =>
            group.map((row, i) =>
              this.row(row, i === 0 ? group.length : 0, metadata),
            ),
          );
    const trs = rows.map((row) => this.draw(row));
    for (const key of [...this.drawn.keys()])
      if (!rows.some((r) => r.key === key)) this.drawn.delete(key);
    // Rows are moved only when the set or the order changes (a model or version comes or goes).
    const current = [...this.body.children];
    if (current.length !== trs.length || current.some((tr, i) => tr !== trs[i]))
      fill(this.body, trs);
  }

  /** The row's element, made or brought up to date cell by cell. */
  private draw(row: Row): HTMLTableRowElement {
    let drawn = this.drawn.get(row.key);
    if (!drawn || drawn.sigs.length !== row.cells.length) {
      drawn = {
        tr: el(
          'tr',
          {},
          row.cells.map((c) => c.build()),
        ),
        sigs: row.cells.map((c) => c.sig),
      };
      this.drawn.set(row.key, drawn);
    } else {
      const { tr, sigs } = drawn;
      row.cells.forEach((cell, i) => {
        if (sigs[i] === cell.sig) return;
        tr.children[i].replaceWith(cell.build());
        sigs[i] = cell.sig;
      });
    }
    drawn.tr.className = row.className;
    for (const [name, value] of Object.entries(row.data))
      drawn.tr.setAttribute(`data-${name}`, String(value));
    return drawn.tr;
  }

  private emptyRow(): Row {
    const columns = this.actions ? 9 : 8;
    return {
      key: 'empty',
      data: {},
      className: '',
      cells: [
        {
          sig: 'empty',
          build: () =>
            el('td', {
              class: 'muted',
              text: 'No model is registered.',
              attrs: { colspan: String(columns) },
            }),
        },
      ],
    };
  }

  private row(
    row: VersionRow,
    span: number,
    metadata: ReadonlyMap<string, ModelMetadata>,
  ): Row {
    const cache = row.cache;
    const state = cache?.state ?? 'unloaded';
    const cell = (sig: unknown[], build: () => HTMLElement): Cell => ({
      sig: JSON.stringify(sig),
      build,
    });
    const cells: Cell[] = [];
    if (span > 0) {
      const meta = metadata.get(row.model_id);
      const tags = meta
        ? [
            meta.format,
            meta.pinned ? 'pinned' : '',
            meta.preload ? 'preload' : '',
          ]
            .filter(Boolean)
            .join(' · ')
        : null;
      cells.push(
        cell([row.model_id, span, tags], () => {
          const swatch = el('span', { class: 'swatch' });
          swatch.style.backgroundColor = `hsl(${hueOf(row.model_id)} 62% 52%)`;
          const th = el(
            'th',
            { class: 'model', attrs: { scope: 'rowgroup' } },
            [
              swatch,
              el('span', { class: 'model-id', text: row.model_id }),
              tags === null
                ? null
                : el('span', { class: 'muted small', text: tags }),
            ],
          );
          th.rowSpan = span;
          return th;
        }),
      );
    }
    const nodes = cache?.nodes.join(', ') || '–';
    const hits = cache ? `${cache.hits} / ${cache.misses}` : '–';
    cells.push(
      cell([row.version, row.is_default], () =>
        el('td', { class: 'version' }, [
          row.version === null ? '–' : `v${row.version}`,
          row.is_default ? el('span', { class: 'tag', text: 'default' }) : null,
        ]),
      ),
      cell([row.status], () =>
        el('td', { class: 'status', text: row.status ?? '–' }),
      ),
      cell(row.aliases as unknown[], () =>
        el(
          'td',
          { class: 'aliases' },
          row.aliases.map((a) =>
            el('span', { class: 'alias', text: a, data: { alias: a } }),
          ),
        ),
      ),
      cell([state, cache?.reason ?? null], () =>
        el('td', { class: 'state' }, [
          el('span', {
            class: `badge state-${state}`,
            text: state,
            data: { state },
            ...(cache?.reason ? { title: cache.reason } : {}),
          }),
          cache?.reason
            ? el('span', { class: 'reason small', text: cache.reason })
            : null,
        ]),
      ),
      cell([nodes], () => el('td', { class: 'nodes', text: nodes })),
      cell([cache?.memory_bytes ?? null, cache?.load_ms ?? null], () =>
        el('td', { class: 'num memory' }, [
          formatBytes(cache?.memory_bytes),
          cache?.load_ms != null
            ? el('span', {
                class: 'muted small block',
                text: `load ${formatMs(cache.load_ms)}`,
                title: 'how long its last load took',
              })
            : null,
        ]),
      ),
      cell([hits], () => el('td', { class: 'num', text: hits })),
    );
    if (this.actions) {
      const busy =
        row.version !== null && this.busy.has(`${row.model_id}@${row.version}`);
      cells.push(
        cell(
          [state, row.status, row.aliases.includes('production'), busy],
          () => this.controls(row, state, busy),
        ),
      );
    }
    return {
      key: `${row.model_id}@${row.version ?? '-'}`,
      className: span > 0 ? 'first' : '',
      data: {
        model: row.model_id,
        ...(row.version !== null ? { version: row.version } : {}),
        state,
      },
      cells,
    };
  }

  private controls(row: VersionRow, state: string, busy: boolean): HTMLElement {
    const version = row.version;
    if (version === null) return el('td', { class: 'actions' });
    const button = (action: Action, label: string, enabled: boolean) => {
      const b = el('button', {
        class: `action ${action}`,
        text: busy ? '…' : label,
        attrs: { type: 'button' },
        data: { action, model: row.model_id, version },
        title: `${label} ${row.model_id} v${version}`,
      });
      b.disabled = busy || !enabled;
      b.addEventListener('click', () => void this.run(action, row, version));
      return b;
    };
    const loaded = state === 'loaded' || state === 'loading';
    return el('td', { class: 'actions' }, [
      button('load', 'Load', !loaded),
      button('unload', 'Unload', loaded),
      row.aliases.includes('production') || row.status !== 'ready'
        ? null
        : button('promote', 'Promote', true),
    ]);
  }

  private async run(action: Action, row: VersionRow, version: number) {
    if (!this.actions) return;
    const key = `${row.model_id}@${version}`;
    if (this.busy.has(key)) return;
    this.busy.add(key);
    this.redraw();
    try {
      await this.actions[action](row.model_id, version);
    } finally {
      this.busy.delete(key);
      this.redraw();
    }
  }

  private redraw(): void {
    if (this.last) this.update(this.last.status, this.last.metadata);
  }
}
