/**
 * wrk (Debian's package), as the HTTP benchmarks drive it: one POST body per script,
 * one thread, the figures read back as one JSON line its `done` hook prints.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const WRK = '/usr/bin/wrk';

/** What one wrk run measured. */
export interface WrkPoint {
  connections: number;
  p50_us: number;
  p99_us: number;
  rps: number;
  non2xx: number;
  errors: number;
}

/**
 * wrk's Lua: one POST body with `key` as a bearer token, and the figures as one JSON
 * line when done. Returns the script's path (written under `dir`, as `<name>.lua`).
 */
export function wrkScript(
  dir: string,
  body: string,
  key: string,
  name = 'predict',
): string {
  const file = join(dir, `${name}.lua`);
  writeFileSync(
    file,
    [
      'wrk.method = "POST"',
      `wrk.body = ${JSON.stringify(body)}`,
      'wrk.headers["Content-Type"] = "application/json"',
      `wrk.headers["Authorization"] = "Bearer ${key}"`,
      'done = function(summary, latency, requests)',
      '  local e = summary.errors',
      '  io.write(string.format(\'WRK {"p50_us":%d,"p99_us":%d,"requests":%d,"duration_us":%d,"non2xx":%d,"errors":%d}\\n\',',
      '    latency:percentile(50), latency:percentile(99), summary.requests, summary.duration,',
      '    e.status, e.connect + e.read + e.write + e.timeout))',
      'end',
      '',
    ].join('\n'),
  );
  return file;
}

export async function wrk(
  url: string,
  script: string,
  connections: number,
  seconds: number,
): Promise<WrkPoint> {
  const { stdout } = await promisify(execFile)(WRK, [
    '-t1',
    `-c${connections}`,
    `-d${seconds}s`,
    '-s',
    script,
    url,
  ]);
  const line = stdout.split('\n').find((l) => l.startsWith('WRK '));
  if (!line) throw new Error(`wrk printed no figures:\n${stdout}`);
  const r = JSON.parse(line.slice(4)) as {
    p50_us: number;
    p99_us: number;
    requests: number;
    duration_us: number;
    non2xx: number;
    errors: number;
  };
  return {
    connections,
    p50_us: r.p50_us,
    p99_us: r.p99_us,
    rps: r.requests / (r.duration_us / 1e6),
    non2xx: r.non2xx,
    errors: r.errors,
  };
}
