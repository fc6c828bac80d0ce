/**
 * Runs critical sections one at a time: urgent ones first, then the others, each kind in
 * call order. A section already running is never interrupted.
 */
export class AsyncMutex {
  private running = false;
  private readonly urgent: (() => void)[] = [];
  private readonly normal: (() => void)[] = [];

  /** Sections waiting for their turn. */
  get waiting(): number {
    return this.urgent.length + this.normal.length;
  }

  /** Whether a section runs now. */
  get busy(): boolean {
    return this.running;
  }

  run<T>(
    section: () => Promise<T>,
    options: { urgent?: boolean } = {},
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running = true;
        Promise.resolve()
          .then(section)
          .then(resolve, reject)
          .finally(() => {
            this.running = false;
            this.next();
          });
      };
      (options.urgent ? this.urgent : this.normal).push(start);
      if (!this.running) this.next();
    });
  }

  private next(): void {
    if (this.running) return;
    const start = this.urgent.shift() ?? this.normal.shift();
    start?.();
  }
}
