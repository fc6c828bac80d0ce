import { metricFamilyOf, promqlMetricNames } from './promql';

describe('promqlMetricNames', () => {
  it.each([
    ['portfolio_runtime_up', ['portfolio_runtime_up']],
    [
      'sum by (model, le) (rate(portfolio_runtime_load_duration_seconds_bucket{model="$model"}[$__rate_interval]))',
      ['portfolio_runtime_load_duration_seconds_bucket'],
    ],
    [
      'histogram_quantile(0.95, sum(rate(portfolio_http_request_duration_seconds_bucket{route=~"/v1/.*", status!="404"}[5m])) by (le))',
      ['portfolio_http_request_duration_seconds_bucket'],
    ],
    [
      'max by (node) (portfolio_runtime_memory_bytes{kind="used"}) / on (node) group_left max by (node) (portfolio_runtime_memory_bytes{kind="capacity"}) > 0.9',
      ['portfolio_runtime_memory_bytes'],
    ],
    [
      'sum without (instance, job) (increase(portfolio_model_load_failures_total[15m] offset 1h)) > bool 2 unless ignoring (reason) portfolio_x',
      ['portfolio_model_load_failures_total', 'portfolio_x'],
    ],
    [
      'label_replace(up{job=~"runtime.*"}, "node", "$1", "instance", "(.*):9464") == 0 or absent(portfolio_runtime_up)',
      ['up', 'portfolio_runtime_up'],
    ],
    [
      'topk(${topn}, sum(rate(a_total[1m:10s])) by (model)) * 1e3 + 0.5 # a comment naming not_a_metric',
      ['a_total'],
    ],
    ['rate(x_total[5m] @ end())', ['x_total']],
  ])('reads %s', (expr, names) => {
    expect(promqlMetricNames(expr).sort()).toEqual([...names].sort());
  });

  it('refuses an expression whose brackets do not close', () => {
    expect(() => promqlMetricNames('sum(rate(x[5m)')).toThrow(/unbalanced \[/);
  });
});

describe('metricFamilyOf', () => {
  const families = new Map([
    ['portfolio_load_seconds', 'histogram'],
    ['portfolio_rpc_seconds', 'summary'],
    ['portfolio_loads_total', 'counter'],
  ]);

  it.each([
    ['portfolio_loads_total', 'portfolio_loads_total'],
    ['portfolio_load_seconds_bucket', 'portfolio_load_seconds'],
    ['portfolio_load_seconds_count', 'portfolio_load_seconds'],
    ['portfolio_rpc_seconds_sum', 'portfolio_rpc_seconds'],
    ['portfolio_rpc_seconds_bucket', undefined],
    ['portfolio_loads_total_count', undefined],
    ['portfolio_nothing', undefined],
  ])('maps %s to %s', (name, family) => {
    expect(metricFamilyOf(name, families)).toBe(family);
  });
});
