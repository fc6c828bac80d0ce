import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';

import { ProgressBar } from './progress';

function fakeStderr(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, out: { isTTY, write: (t: string) => writes.push(t) } };
}

describe('ProgressBar', () => {
  it('draws bytes sent, total and percentage on a terminal', () => {
    const { writes, out } = fakeStderr(true);
    let now = 0;
    const bar = new ProgressBar(out, 4 * 1024 * 1024, () => now);
    bar.add(1024 * 1024);
    now += 50;
    bar.add(1024); // throttled: within 100 ms of the last draw
    now += 100;
    bar.add(1024 * 1024 - 1024);
    bar.finish();
    expect(writes).toHaveLength(4);
    expect(writes[0]).toMatch(/^\r\[#{8}\.{22}\] 1\.0 MiB \/ 4\.0 MiB {2}25%/);
    expect(writes[1]).toContain('2.0 MiB / 4.0 MiB  50%');
    expect(writes[3]).toBe('\n');
  });

  it('writes nothing at all when stderr is not a terminal', async () => {
    const { writes, out } = fakeStderr(false);
    const bar = new ProgressBar(out, 10);
    expect(bar.enabled).toBe(false);
    await pipeline(
      Readable.from([Buffer.alloc(6), Buffer.alloc(4)]),
      bar.counter(),
      new Writable({ write: (_c, _e, done) => done() }),
    );
    bar.finish();
    expect(writes).toEqual([]);
  });

  it('counts what streams through it and never passes 100%', async () => {
    const { writes, out } = fakeStderr(true);
    const bar = new ProgressBar(out, 8, () => 0, 0);
    const seen: Buffer[] = [];
    await pipeline(
      Readable.from([Buffer.from('abcd'), Buffer.from('efghij')]),
      bar.counter(),
      new Writable({
        write: (c: Buffer, _e, done) => {
          seen.push(c);
          done();
        },
      }),
    );
    bar.finish();
    expect(Buffer.concat(seen).toString()).toBe('abcdefghij');
    expect(writes.at(-2)).toContain('10 B / 8 B 100%');
  });
});
