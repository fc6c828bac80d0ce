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

  it('runs urgent sections before the others waiting, never interrupting the one running', async () => {
    const sut = new AsyncMutex();
    const events: string[] = [];
    const section = (name: string) => async () => {
      events.push(`${name}:start`);
      await tick(5);
      events.push(`${name}:end`);
    };

    const running = sut.run(section('load-a'));
    const queued = sut.run(section('load-b'));
    const urgent = sut.run(section('unload'), { urgent: true });
    expect(sut.waiting).toBe(2);
    await Promise.all([running, queued, urgent]);

    expect(events).toEqual([
      'load-a:start',
      'load-a:end',
      'unload:start',
      'unload:end',
      'load-b:start',
      'load-b:end',
    ]);
    expect(sut.waiting).toBe(0);
    expect(sut.busy).toBe(false);
  });
});
