import { AsyncMutex } from './async-mutex';

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe(AsyncMutex.name, () => {
  it('runs sections one at a time, in call order', async () => {
    const sut = new AsyncMutex();
    const events: string[] = [];
    const section = (name: string, ms: number) => async () => {
      events.push(`${name}:start`);
      await tick(ms);
      events.push(`${name}:end`);
      return name;
    };

    const results = await Promise.all([
      sut.run(section('a', 30)),
      sut.run(section('b', 1)),
      sut.run(section('c', 10)),
    ]);

    expect(results).toEqual(['a', 'b', 'c']);
    expect(events).toEqual([
      'a:start',
      'a:end',
      'b:start',
      'b:end',
      'c:start',
      'c:end',
    ]);
  });

  it('keeps going after a section fails, and hands the failure to its caller only', async () => {
    const sut = new AsyncMutex();

    const failed = sut.run(async () => {
      throw new Error('boom');
    });
    const next = sut.run(async () => 'next');

    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('next');
  });
});
