/**
 * The last `capacity` items pushed, oldest first: a fixed array written round, so a
 * gateway that runs for months holds no more than it did after its first minutes.
 */
export class Ring<T> {
  private readonly items: (T | undefined)[];
  /** Where the next item goes. */
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(
        `a ring holds at least one item, got capacity ${capacity}`,
      );
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** Every item held, oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    const start = (this.next - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++)
      out.push(this.items[(start + i) % this.capacity] as T);
    return out;
  }

  /** The newest item, if any. */
  last(): T | undefined {
    return this.count === 0
      ? undefined
      : this.items[(this.next - 1 + this.capacity) % this.capacity];
  }
}
