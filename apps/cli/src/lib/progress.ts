import { Transform, type TransformCallback } from 'node:stream';

import { formatBytes } from './format';

/** Where the bar is drawn: stderr, or a fake in tests. */
export interface ProgressOutput {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): unknown;
}

/**
 * An upload's progress bar, `[#####.....] 12.0 MiB / 40.0 MiB  30%`, redrawn in
 * place at most every `intervalMs`. Drawn only on a terminal: elsewhere (a pipe,
 * a file, CI logs) it writes nothing at all.
 */
export class ProgressBar {
  private sent = 0;
  private lastDraw = -Infinity;
  private drawn = false;
  readonly enabled: boolean;

  constructor(
    private readonly out: ProgressOutput,
    private readonly total: number,
    private readonly now: () => number = Date.now,
    private readonly intervalMs = 100,
  ) {
    this.enabled = out.isTTY === true;
  }

  add(bytes: number): void {
    this.sent += bytes;
    if (!this.enabled) return;
    const t = this.now();
    if (t - this.lastDraw >= this.intervalMs) {
      this.lastDraw = t;
      this.draw();
    }
  }

  /** The final state and a newline (nothing when disabled or never drawn). */
  finish(): void {
    if (!this.enabled) return;
    this.draw();
    this.out.write('\n');
  }

  line(): string {
    const ratio =
      this.total > 0 ? Math.min(1, this.sent / this.total) : this.sent ? 1 : 0;
    const width = 30;
    const filled = Math.round(ratio * width);
    const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
    const pct = `${Math.floor(ratio * 100)}%`.padStart(4);
    return `[${bar}] ${formatBytes(this.sent)} / ${formatBytes(this.total)} ${pct}`;
  }

  private draw(): void {
    this.drawn = true;
    this.out.write(`\r${this.line()}\u001b[K`);
  }

  get wasDrawn(): boolean {
    return this.drawn;
  }

  /** A pass-through stream that counts what flows through it into the bar. */
  counter(): Transform {
    return new Transform({
      transform: (
        chunk: Buffer,
        _encoding: BufferEncoding,
        done: TransformCallback,
      ) => {
        this.add(chunk.length);
        done(null, chunk);
      },
    });
  }
}
