import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { prettyLogText } from '@portfolio/telemetry';

/** The repository root (this file lives at libs/testing/src/lib/cluster). */
export const REPO_ROOT = resolve(__dirname, '../../../../..');

export function builtApp(app: string): string {
  const main = join(REPO_ROOT, 'dist', 'apps', app, 'main.js');
  if (!existsSync(main)) {
    throw new Error(
      `${main} is missing: build the apps first (npx nx run-many -t build), or run the tests with npm test`,
    );
  }
  return main;
}

export interface AppProcessOptions {
  /** A label for logs (e.g. "runtime-a"). */
  readonly name: string;
  /** An app under dist/apps (gateway, runtime, portfolio...). */
  readonly app: string;
  readonly env: Readonly<Record<string, string>>;
  readonly args?: readonly string[];
  /** Node's own options, before the script (e.g. `--cpu-prof`, which NODE_OPTIONS refuses). */
  readonly nodeArgs?: readonly string[];
  /** Printed by the app once it serves (e.g. "gateway ready"). */
  readonly readyLine: string;
  readonly startTimeoutMs?: number;
  /** Each chunk the process prints, as it comes (tools/cluster streams the logs). */
  readonly onOutput?: (text: string) => void;
}

/**
 * One of Portfolio's built apps as a real child process, as it runs in production:
 * `node dist/apps/<app>/main.js`, configured by PORTFOLIO_* variables. Output is kept
 * (and shown when something fails) so a failing test says what the service said.
 */
export class AppProcess {
  private child: ChildProcess | null = null;
  private output: string[] = [];
  private exited: Promise<number | null> = Promise.resolve(null);

  constructor(readonly options: AppProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return (
      this.child !== null &&
      this.child.exitCode === null &&
      this.child.signalCode === null
    );
  }

  /**
   * What the process printed so far (stdout and stderr, interleaved), its JSON log
   * lines rendered as a person reads them (`10:42:01.123 ERROR [gateway] Gateway: ...`,
   * see prettyLogLine); other lines as printed.
   */
  logs(): string {
    return prettyLogText(this.rawLogs());
  }

  /** Exactly what the process printed so far. */
  rawLogs(): string {
    return this.output.join('');
  }

  /** Its JSON log lines so far, parsed (one object per line). */
  logRecords(): Record<string, unknown>[] {
    const records: Record<string, unknown>[] = [];
    for (const line of this.rawLogs().split('\n')) {
      if (!line.startsWith('{"level":')) continue;
      try {
        records.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // A line cut short (the process is still writing it).
      }
    }
    return records;
  }

  async start(): Promise<void> {
    const {
      name,
      app,
      env,
      args = [],
      nodeArgs = [],
      readyLine,
      startTimeoutMs = 60_000,
    } = this.options;
    this.output = [];
    const child = spawn(
      process.execPath,
      [...nodeArgs, builtApp(app), ...args],
      {
        cwd: REPO_ROOT,
        // Only the variables given, plus what node needs: the test run's own PORTFOLIO_*
        // variables (naming its servers) must not leak into the service.
        env: {
          PATH: process.env['PATH'] ?? '',
          HOME: process.env['HOME'] ?? '/tmp',
          NO_COLOR: '1',
          // The gateway's gRPC port on any free one, unless a test names it: two apps
          // (or a developer's own server) must not fight over the default 8081.
          PORTFOLIO_GATEWAY_GRPC_PORT: '0',
          // The services' metrics port (default 9464) off unless a test names one: services
          // started side by side must not fight over it (PortfolioCluster gives each one).
          PORTFOLIO_METRICS_PORT: '0',
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    this.exited = new Promise((resolveExit) =>
      child.once('exit', (code) => resolveExit(code)),
    );
    await new Promise<void>((resolveReady, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `${name} did not print "${readyLine}" within ${startTimeoutMs} ms:\n${this.tail()}`,
          ),
        );
      }, startTimeoutMs);
      let ready = false;
      const onData = (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        this.output.push(text);
        this.options.onOutput?.(text);
        // Looked for until found only: a long-running process prints a lot.
        if (!ready && this.output.join('').includes(readyLine)) {
          ready = true;
          clearTimeout(timer);
          resolveReady();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(
            `${name} exited (code ${code}, signal ${signal}) before it was ready:\n${this.tail()}`,
          ),
        );
      });
    });
  }

  /** Waits for the process to end on its own (for apps expected to refuse to start). */
  async waitForExit(timeoutMs = 30_000): Promise<number | null> {
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(
        () =>
          reject(
            new Error(
              `${this.options.name} still running after ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      ).unref(),
    );
    return Promise.race([this.exited, timeout]);
  }

  /** SIGTERM and wait (graceful shutdown); SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<number | null> {
    const child = this.child;
    if (!child || !this.running) return child?.exitCode ?? null;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  /** A crash: no shutdown hooks run. */
  async kill(): Promise<void> {
    if (!this.child || !this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  tail(lines = 60): string {
    return this.logs()
      .split('\n')
      .slice(-lines)
      .map((l) => `  [${this.options.name}] ${l}`)
      .join('\n');
  }
}
