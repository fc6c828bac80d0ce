import { spawn } from 'node:child_process';

/** What to undo if the process that started a server dies without stopping it. */
export interface CleanupPlan {
  /** Processes to SIGTERM (then SIGKILL after 5 s). */
  pids: number[];
  /** Commands to run, e.g. `pg_ctl stop -m immediate`, as argv arrays. */
  commands: string[][];
  /** Directories to remove afterwards. */
  dirs: string[];
}

export interface Watchdog {
  /** The owner cleaned up normally: stop watching. */
  cancel(): void;
}

/**
 * Runs in a detached Node process (its own session, so a Ctrl-C to the test
 * run's process group does not reach it). Polls the owner pid every 500 ms and
 * executes the plan once the owner is gone; exits quietly on SIGTERM (cancel).
 */
const WATCHDOG_SOURCE = `
const { spawnSync } = require('node:child_process');
const { readFileSync, rmSync } = require('node:fs');
const { owner, pids, commands, dirs } = JSON.parse(process.argv[1]);
// A zombie (exited, not yet reaped) still answers kill(pid, 0) but is gone for our purposes.
const zombie = (pid) => { try { return / Z /.test(readFileSync('/proc/' + pid + '/stat', 'utf8').replace(/\\(.*\\)/, '()')); } catch { return false; } };
const alive = (pid) => { try { process.kill(pid, 0); } catch (e) { return e.code === 'EPERM'; } return !zombie(pid); };
process.on('SIGTERM', () => process.exit(0));
const timer = setInterval(() => {
  if (alive(owner)) return;
  clearInterval(timer);
  for (const pid of pids) { try { process.kill(pid, 'SIGTERM'); } catch {} }
  for (const [cmd, ...args] of commands) spawnSync(cmd, args, { stdio: 'ignore', timeout: 30000 });
  const deadline = Date.now() + 5000;
  const wait = () => {
    const left = pids.filter(alive);
    if (left.length > 0 && Date.now() < deadline) return setTimeout(wait, 100);
    for (const pid of left) { try { process.kill(pid, 'SIGKILL'); } catch {} }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  };
  wait();
}, 500);
`;

/**
 * Guards servers a test run starts against the run being killed (SIGKILL,
 * crash, Ctrl-C) before its teardown: Node cannot ask the kernel to kill a
 * child with its parent (no PR_SET_PDEATHSIG), and PostgreSQL is detached by
 * pg_ctl anyway, so a separate watcher does it.
 */
export function startWatchdog(
  plan: CleanupPlan,
  owner = process.pid,
): Watchdog {
  const child = spawn(
    process.execPath,
    ['-e', WATCHDOG_SOURCE, JSON.stringify({ owner, ...plan })],
    {
      detached: true,
      stdio: 'ignore',
    },
  );
  child.unref();
  return {
    cancel: () => {
      if (child.exitCode === null && child.signalCode === null)
        child.kill('SIGTERM');
    },
  };
}
