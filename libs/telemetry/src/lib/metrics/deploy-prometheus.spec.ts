import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

/** deploy/prometheus of this repository (this file is libs/telemetry/src/lib/metrics). */
const DIR = resolve(__dirname, '../../../../../deploy/prometheus');

/** promtool's exit status and output; the test fails saying how to get it when it is missing. */
function promtool(
  cwd: string,
  ...args: string[]
): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  if (run.error)
    throw new Error(
      `promtool could not be run (${run.error.message}): install Debian's prometheus package (.ci/run does)`,
    );
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

interface RulesFile {
  groups: { rules: { alert?: string }[] }[];
}
interface RulesTest {
  tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

describe('deploy/prometheus', () => {
  it.each([
    // The gateway's key is a secret of the deployment, not here: see the next test.
    [
      'check config --syntax-only',
      ['check', 'config', '--syntax-only', 'prometheus.yml'],
    ],
    ['check rules', ['check', 'rules', 'alerts.yml']],
    ['test rules', ['test', 'rules', 'alerts.test.yml']],
  ])('passes promtool %s', (_, args) => {
    const { status, output } = promtool(DIR, ...args);

    expect({ status, output }).toEqual({
      status: 0,
      output: expect.any(String),
    });
    expect(output).toContain('SUCCESS');
  });

  it('passes promtool check config with the files it names in place', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portfolio-prometheus-'));
    try {
      const key = join(dir, 'gateway-metrics-key');
      writeFileSync(key, 'pf_read_0123456789abcdef');
      const config = readFileSync(join(DIR, 'prometheus.yml'), 'utf8');
      expect(config).toContain(
        'credentials_file: /run/secrets/gateway-metrics-key',
      );
      writeFileSync(
        join(dir, 'prometheus.yml'),
        config.replace('/run/secrets/gateway-metrics-key', key),
      );
      copyFileSync(join(DIR, 'alerts.yml'), join(dir, 'alerts.yml'));

      const { status, output } = promtool(
        dir,
        'check',
        'config',
        'prometheus.yml',
      );

      expect({ status, output }).toEqual({
        status: 0,
        output: expect.stringContaining('SUCCESS: 1 rule files found'),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has a test that fires every alert', () => {
    const rules = parse(
      readFileSync(join(DIR, 'alerts.yml'), 'utf8'),
    ) as RulesFile;
    const tests = parse(
      readFileSync(join(DIR, 'alerts.test.yml'), 'utf8'),
    ) as RulesTest;
    const alerts = rules.groups.flatMap((g) =>
      g.rules.flatMap((r) => (r.alert ? [r.alert] : [])),
    );
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    const firing = new Set(
      cases.filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname),
    );

    expect(alerts.length).toBeGreaterThan(0);
    expect(alerts.filter((a) => !firing.has(a))).toEqual([]);
  });

  it('would fail a rule that does not fire as its test expects', () => {
    // The same tests against a rule whose threshold can never be reached.
    const dir = mkdtempSync(join(tmpdir(), 'portfolio-alerts-'));
    try {
      writeFileSync(
        join(dir, 'alerts.yml'),
        readFileSync(join(DIR, 'alerts.yml'), 'utf8').replace(
          /> 0\.95\n/g,
          '> 100\n',
        ),
      );
      copyFileSync(join(DIR, 'alerts.test.yml'), join(dir, 'alerts.test.yml'));

      const { status, output } = promtool(
        dir,
        'test',
        'rules',
        'alerts.test.yml',
      );

      expect(status).not.toBe(0);
      expect(output).toContain('PortfolioRuntimeMemoryNearHardLimit');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
