import { Api, ApiError, KeyStore } from './api';
import { el, fill } from './dom';
import { MemoryPanel } from './panels/memory-panel';
import { ModelActions, ModelsPanel } from './panels/models-panel';
import { keyForm } from './panels/key-panel';
import { TimelinePanel } from './panels/timeline-panel';
import { TrafficPanel } from './panels/traffic-panel';
import { EventStreamClient } from './sse';
import type {
  ClusterStatus,
  ModelEvent,
  ModelMetadata,
  Scope,
  WhoAmI,
} from './types';

/** How often the cluster status is read (memory bars, model states). */
export const STATUS_EVERY_MS = 2_000;
/** How often the traffic samples are read (the server closes one every 5 s). */
export const STATS_EVERY_MS = 5_000;
/** A model's metadata (versions, aliases) is read again after this long at the latest. */
export const METADATA_MAX_AGE_MS = 60_000;
/** Metadata requests in flight at once. */
const METADATA_CONCURRENCY = 4;

const grants = (scopes: readonly Scope[], needed: Scope) =>
  scopes.includes('admin') || scopes.includes(needed);

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Calls `tick` now, then `ms` after each call ends, until stopped; `now()` asks for a call
 * at once (or right after the one in progress: never two at a time).
 */
export function every(ms: number, tick: () => Promise<void>) {
  let stopped = false;
  let running = false;
  let again = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = async (): Promise<void> => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = true;
    try {
      await tick();
    } catch {
      // Each tick shows its own failures; the loop goes on.
    } finally {
      running = false;
    }
    if (stopped) return;
    if (again) {
      again = false;
      void run();
    } else timer = setTimeout(() => void run(), ms);
  };
  void run();
  return {
    now: () => void run(),
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** What runs while a key is in use: the panels, their polls and the event stream. */
class Session {
  private readonly memory = new MemoryPanel();
  private readonly models: ModelsPanel;
  private readonly traffic = new TrafficPanel();
  private readonly timeline = new TimelinePanel();
  private readonly metadata = new Map<
    string,
    { meta: ModelMetadata; at: number }
  >();
  /** Models whose metadata is read again at the next status (after an action on them). */
  private readonly stale = new Set<string>();
  private status: ClusterStatus | null = null;
  private readonly stops: (() => void)[] = [];
  private readonly refreshStatus: () => void;

  constructor(
    private readonly api: Api,
    who: WhoAmI,
    main: HTMLElement,
    private readonly notify: (text: string, kind: 'ok' | 'error') => void,
    private readonly refused: (message: string) => void,
  ) {
    this.models = new ModelsPanel(
      who.scopes.includes('admin') ? this.actions() : null,
    );
    fill(main, [
      el('div', { class: 'column wide' }, [
        this.memory.element,
        this.models.element,
      ]),
      el('div', { class: 'column' }, [
        this.traffic.element,
        this.timeline.element,
      ]),
    ]);
    const statusLoop = every(STATUS_EVERY_MS, () => this.readStatus());
    const statsLoop = every(STATS_EVERY_MS, () => this.readStats());
    const stream = new EventStreamClient(
      api,
      '/v1/models/events',
      (m) => {
        if (m.event !== 'model') return;
        let event: ModelEvent;
        try {
          event = JSON.parse(m.data) as ModelEvent;
        } catch {
          return;
        }
        this.timeline.add(event);
        // The status shows the change at its next read; sooner is better.
        this.refreshStatus();
      },
      (state, detail) => this.timeline.setState(state, detail),
    );
    stream.start();
    this.refreshStatus = statusLoop.now;
    this.stops.push(statusLoop.stop, statsLoop.stop, () => stream.stop());
  }

  stop(): void {
    for (const stop of this.stops) stop();
  }

  private handle(e: unknown, panel: { failed(message: string): void }) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      this.refused(e.message);
      return;
    }
    panel.failed(messageOf(e));
  }

  private async readStatus(): Promise<void> {
    try {
      this.status = await this.api.status();
    } catch (e) {
      this.handle(e, this.memory);
      return;
    }
    this.memory.update(this.status);
    this.models.update(this.status, this.metadataMap());
    if (await this.readMetadata(this.status))
      this.models.update(this.status, this.metadataMap());
  }

  private async readStats(): Promise<void> {
    try {
      this.traffic.update(await this.api.stats());
    } catch (e) {
      this.handle(e, this.traffic);
    }
  }

  private metadataMap(): Map<string, ModelMetadata> {
    return new Map([...this.metadata].map(([id, m]) => [id, m.meta]));
  }

  /**
   * Reads the metadata (versions, aliases) of the models that need it: new ones, those
   * with a version the metadata does not list, those acted on, and any older than
   * METADATA_MAX_AGE_MS. Says whether anything changed.
   */
  private async readMetadata(status: ClusterStatus): Promise<boolean> {
    const now = Date.now();
    const ids = new Set(status.models.map((m) => m.model_id));
    let changed = false;
    for (const id of this.metadata.keys())
      if (!ids.has(id)) {
        this.metadata.delete(id);
        changed = true;
      }
    const wanted = [...ids].filter((id) => {
      const held = this.metadata.get(id);
      if (!held || this.stale.has(id) || now - held.at > METADATA_MAX_AGE_MS)
        return true;
      return status.models.some(
        (m) =>
          m.model_id === id &&
          m.version !== null &&
          !held.meta.versions.some((v) => v.version === m.version),
      );
    });
    const queue = [...wanted];
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        this.stale.delete(id);
        try {
          this.metadata.set(id, { meta: await this.api.metadata(id), at: now });
          changed = true;
        } catch (e) {
          if (e instanceof ApiError && e.status === 404) {
            changed = this.metadata.delete(id) || changed;
          } else if (
            e instanceof ApiError &&
            (e.status === 401 || e.status === 403)
          ) {
            this.refused(e.message);
            return;
          }
          // Other failures: the model shows without its metadata until the next try.
        }
      }
    };
    await Promise.all(
      Array.from(
        { length: Math.min(METADATA_CONCURRENCY, queue.length) },
        worker,
      ),
    );
    return changed;
  }

  /** Load, unload and promote, each saying how it went and refreshing what it changed. */
  private actions(): ModelActions {
    const act =
      (run: (id: string, v: number) => Promise<string>) =>
      async (id: string, v: number) => {
        try {
          this.notify(await run(id, v), 'ok');
        } catch (e) {
          this.notify(`${id} v${v}: ${messageOf(e)}`, 'error');
        }
        this.stale.add(id);
        this.refreshStatus();
      };
    return {
      load: act(async (id, v) => {
        const r = await this.api.load(id, v);
        return `${id} v${v} is loaded on ${r.nodes.join(', ')}.`;
      }),
      unload: act(async (id, v) => {
        const r = await this.api.unload(id, v);
        return r.unloaded.length === 0
          ? `${id} v${v} was not loaded.`
          : `${id} v${v} unloaded from ${r.unloaded.map((u) => u.node_id).join(', ')}.`;
      }),
      promote: act(async (id, v) => {
        const r = await this.api.promote(id, v);
        return `${id}: production now points at v${r.version}${r.previous_version === null ? '' : ` (was v${r.previous_version})`}.`;
      }),
    };
  }
}

/**
 * The console: asks the server who the kept key is (`GET /v1/auth/whoami`), asks for a
 * key when one is needed, then shows the panels; controls for admin keys only (the
 * server checks the scopes anyway).
 */
export class ConsoleApp {
  private readonly api: Api;
  private session: Session | null = null;
  private readonly identity = el('span', { class: 'identity' });
  private readonly forget = el('button', {
    class: 'link',
    text: 'Forget key',
    attrs: { type: 'button', id: 'forget-key' },
  });
  private readonly notices = el('div', {
    class: 'notices',
    attrs: { role: 'status', 'aria-live': 'polite' },
  });
  private readonly main = el('main', { class: 'layout' });

  constructor(
    private readonly root: HTMLElement,
    private readonly keys: KeyStore,
  ) {
    this.api = new Api(keys);
    this.forget.hidden = true;
    this.forget.addEventListener('click', () => {
      this.keys.set(null);
      void this.signIn();
    });
  }

  start(): Promise<void> {
    fill(this.root, [
      el('header', { class: 'top' }, [
        el('h1', {}, [
          'Portfolio ',
          el('span', { class: 'muted', text: 'console' }),
        ]),
        el('div', { class: 'who' }, [this.identity, this.forget]),
      ]),
      this.notices,
      this.main,
    ]);
    return this.signIn();
  }

  notify(text: string, kind: 'ok' | 'error'): void {
    const notice = el('div', { class: `notice ${kind}`, text });
    this.notices.prepend(notice);
    while (this.notices.children.length > 4)
      this.notices.lastElementChild?.remove();
    setTimeout(() => notice.remove(), 10_000);
  }

  private async signIn(problem?: string): Promise<void> {
    this.session?.stop();
    this.session = null;
    let who: WhoAmI;
    try {
      who = await this.api.whoami();
    } catch (e) {
      const retry = el('button', {
        text: 'Try again',
        attrs: { type: 'button' },
      });
      retry.addEventListener('click', () => void this.signIn());
      fill(this.main, [
        el('p', {
          class: 'error',
          text: `The server does not answer: ${messageOf(e)}`,
        }),
        retry,
      ]);
      return;
    }
    if (who.key === 'invalid') {
      this.keys.set(null);
      return this.askForKey('That API key is not valid (unknown or revoked).');
    }
    if (who.key === 'none') return this.askForKey(problem);
    if (!grants(who.scopes, 'read')) {
      this.keys.set(null);
      return this.askForKey(
        `The key "${who.name ?? ''}" has the scopes ${who.scopes.join(', ') || 'none'}; the console needs read or admin.`,
      );
    }
    this.showIdentity(who);
    this.session = new Session(
      this.api,
      who,
      this.main,
      (text, kind) => this.notify(text, kind),
      (message) => {
        this.keys.set(null);
        void this.signIn(`The server refused the key: ${message}`);
      },
    );
  }

  private askForKey(problem?: string): void {
    this.identity.textContent = '';
    this.forget.hidden = true;
    fill(this.main, [
      keyForm((key) => {
        this.keys.set(key);
        void this.signIn();
      }, problem),
    ]);
  }

  private showIdentity(who: WhoAmI): void {
    const admin = who.scopes.includes('admin');
    this.identity.setAttribute('data-scope', admin ? 'admin' : 'read');
    this.identity.textContent =
      who.key === 'not_needed'
        ? 'auth is off: every request is admin'
        : `${admin ? 'admin' : 'read-only'} · key "${who.name ?? ''}"`;
    this.forget.hidden = who.key === 'not_needed';
  }
}
