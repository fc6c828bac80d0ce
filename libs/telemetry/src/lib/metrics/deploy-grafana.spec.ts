import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

/** deploy/grafana of this repository (this file is libs/telemetry/src/lib/metrics). */
const DIR = resolve(__dirname, '../../../../../deploy/grafana');

interface Target {
  refId?: string;
  expr?: string;
  datasource?: { uid?: string };
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  gridPos?: { h: number; w: number; x: number; y: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid?: string;
  title?: string;
  schemaVersion?: number;
  panels?: Panel[];
  templating?: {
    list?: { name: string; query?: { query?: string } | string }[];
  };
}

const yamlOf = <T>(path: string) =>
  parse(readFileSync(join(DIR, path), 'utf8')) as T;
const files = readdirSync(join(DIR, 'dashboards')).filter((f) =>
  f.endsWith('.json'),
);
const dashboard = (file: string) =>
  JSON.parse(readFileSync(join(DIR, 'dashboards', file), 'utf8')) as Dashboard;
const panelsOf = (d: Dashboard): Panel[] =>
  (d.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);

/** The datasource's uid the provisioning gives, which every panel must name. */
const datasource = yamlOf<{
  datasources: { uid: string; type: string; url: string }[];
}>('provisioning/datasources/prometheus.yml').datasources[0];

describe('deploy/grafana', () => {
  it('provisions the Prometheus of the stack, and the dashboards from where they are mounted', () => {
    const providers = yamlOf<{
      providers: { type: string; options: { path: string } }[];
    }>('provisioning/dashboards/portfolio.yml').providers;

    expect(datasource).toMatchObject({
      type: 'prometheus',
      uid: 'prometheus',
      url: 'http://prometheus:9090',
    });
    expect(providers).toEqual([
      expect.objectContaining({
        type: 'file',
        options: { path: '/var/lib/grafana/dashboards' },
      }),
    ]);
  });

  it('has the overview, cache and model dashboards, each with its own uid', () => {
    const uids = files.map((f) => dashboard(f).uid);

    expect(files.sort()).toEqual(['cache.json', 'model.json', 'overview.json']);
    expect(new Set(uids).size).toBe(files.length);
  });

  describe.each(files)('%s', (file) => {
    const d = dashboard(file);
    const panels = panelsOf(d);
    const shown = panels.filter((p) => p.type !== 'row');

    it('is a dashboard of a current schema with a title', () => {
      expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
      expect(d.title).toMatch(/^Portfolio: /);
      expect(shown.length).toBeGreaterThan(0);
    });

    it('places every panel on the 24-column grid, none over another', () => {
      const taken = new Map<string, string>();
      const ids = new Set<number>();
      for (const p of panels) {
        const g = p.gridPos;
        expect([p.title, g && g.x + g.w <= 24 && g.w > 0 && g.h > 0]).toEqual([
          p.title,
          true,
        ]);
        expect(ids.has(p.id ?? -1)).toBe(false);
        ids.add(p.id ?? -1);
        if (!g) continue;
        for (let x = g.x; x < g.x + g.w; x++)
          for (let y = g.y; y < g.y + g.h; y++) {
            const cell = `${x},${y}`;
            expect([cell, taken.get(cell)]).toEqual([cell, undefined]);
            taken.set(cell, p.title ?? '');
          }
      }
    });

    it('queries the provisioned Prometheus, each target with its own refId and an expression', () => {
      for (const p of shown) {
        expect([p.title, p.datasource?.uid]).toEqual([p.title, datasource.uid]);
        const targets = p.targets ?? [];
        expect([p.title, targets.length > 0]).toEqual([p.title, true]);
        const refIds = targets.map((t) => t.refId);
        expect(new Set(refIds).size).toBe(refIds.length);
        for (const t of targets) {
          expect([p.title, (t.expr ?? '').trim() !== '']).toEqual([
            p.title,
            true,
          ]);
          expect(t.datasource?.uid ?? datasource.uid).toBe(datasource.uid);
        }
      }
    });
  });

  it("chooses the model dashboard's model with a variable, and every panel there uses it", () => {
    const d = dashboard('model.json');
    const variable = d.templating?.list?.find((v) => v.name === 'model');
    const query =
      typeof variable?.query === 'string'
        ? variable.query
        : variable?.query?.query;

    expect(query).toMatch(/^label_values\(portfolio_\w+, model\)$/);
    for (const p of panelsOf(d).filter((x) => x.type !== 'row'))
      for (const t of p.targets ?? [])
        expect([p.title, t.expr]).toEqual([
          p.title,
          expect.stringContaining('model="$model"'),
        ]);
  });
});
