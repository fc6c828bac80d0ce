import { EventLoopUtilization, performance } from 'node:perf_hooks';

/**
 * How busy this thread's event loop has been lately: the share of the last window (at
 * least `windowMs`, measured when asked) it spent running code rather than waiting for
 * I/O. Read on every run, so it is computed at most once a window.
 */
export class MainThreadLoad {
  private mark: EventLoopUtilization = performance.eventLoopUtilization();
  private markedAt = performance.now();
  private last = 0;

  constructor(private readonly windowMs: number) {}

  /** The event loop's utilization (0..1) over the last complete window. */
  utilization(): number {
    const now = performance.now();
    if (now - this.markedAt >= this.windowMs) {
      const current = performance.eventLoopUtilization();
      this.last = performance.eventLoopUtilization(
        current,
        this.mark,
      ).utilization;
      this.mark = current;
      this.markedAt = now;
    }
    return this.last;
  }
}
