/**
 * Where a benchmark's CPU went: processes' (or single threads') CPU time from
 * /proc/<pid>/stat and /proc/<pid>/task/<tid>/stat, and the whole machine's from
 * /proc/stat, read before and after a measured interval (Linux only).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** What to account for: a process (all its threads), or one thread of it. */
export interface CpuTarget {
  readonly label: string;
  /** Read when sampled (a process may not exist yet when the target is made). */
  readonly pids: () => number[];
  /** Only each pid's main thread (its tid is its pid). */
  readonly mainThread?: boolean;
}

export interface CpuSnapshot {
  readonly ticks: number[];
  readonly machineBusy: number;
  readonly machineTotal: number;
}

export interface CpuShare {
  readonly label: string;
  /** CPU time per request (us). */
  readonly us_per_request: number;
  /** Cores it kept busy on average. */
  readonly cores: number;
}

export interface CpuReport {
  readonly shares: CpuShare[];
  /** Share of the machine's CPU time that was busy (0..1) and its core count. */
  readonly machine_busy: number;
  readonly machine_cores: number;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const TICKS_PER_S = 100;

export function cpuSnapshot(targets: readonly CpuTarget[]): CpuSnapshot {
  const [busy, total] = machineTicks();
  return {
    ticks: targets.map((t) =>
      t
        .pids()
        .reduce(
          (sum, pid) =>
            sum + statTicks(t.mainThread ? `${pid}/task/${pid}` : `${pid}`),
          0,
        ),
    ),
    machineBusy: busy,
    machineTotal: total,
  };
}

export function cpuReport(
  targets: readonly CpuTarget[],
  before: CpuSnapshot,
  after: CpuSnapshot,
  requests: number,
  seconds: number,
): CpuReport {
  const cores = machineCores();
  const total = after.machineTotal - before.machineTotal;
  return {
    shares: targets.map((t, i) => {
      const cpuSeconds = (after.ticks[i] - before.ticks[i]) / TICKS_PER_S;
      return {
        label: t.label,
        us_per_request: (cpuSeconds * 1e6) / Math.max(1, requests),
        cores: cpuSeconds / seconds,
      };
    }),
    machine_busy:
      total > 0 ? (after.machineBusy - before.machineBusy) / total : 0,
    machine_cores: cores,
  };
}

/** Every process whose command name is `comm` (e.g. nats-server). */
export function pidsNamed(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm)
        pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** utime + stime of /proc/<path>/stat, in ticks; 0 when it is gone. */
function statTicks(path: string): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${path}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // After the command name (in parentheses, and which may hold spaces), field 3 on.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** The machine's [busy, total] ticks over all cores (busy: all but idle and iowait). */
function machineTicks(): [number, number] {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = values[3] + values[4];
  return [total - idle, total];
}

function machineCores(): number {
  return readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((l) => /^cpu\d+ /.test(l)).length;
}
