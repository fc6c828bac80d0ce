import { busContract } from './bus-contract.testing';
import { InProcessBus } from './in-process.bus';
import { subjectMatches, subjectTokens } from './subject.util';

describe(InProcessBus.name, () => {
  busContract(
    async () => new InProcessBus(),
    () => 'unit',
  );

  it('refuses payloads above its limit', async () => {
    const bus = new InProcessBus(10);
    expect(() => bus.publish('a.b', new Uint8Array(11))).toThrow(
      /exceeds the bus limit/,
    );
    await expect(
      bus.request('a.b', new Uint8Array(11), { timeoutMs: 100 }),
    ).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });

  it('hands the payload over without copying', async () => {
    const bus = new InProcessBus();
    const payload = new Uint8Array([1, 2, 3]);
    let received: Uint8Array | null = null;
    bus.subscribe('a.b', (m) => {
      received = m.data;
      return { data: m.data };
    });
    await bus.request('a.b', payload, { timeoutMs: 100 });
    expect(received).toBe(payload);
  });
});

describe('subject matching', () => {
  const m = (pattern: string, subject: string) =>
    subjectMatches(subjectTokens(pattern, true), subjectTokens(subject, false));

  it.each([
    ['a.b.c', 'a.b.c', true],
    ['a.*.c', 'a.b.c', true],
    ['a.*', 'a.b.c', false],
    ['a.>', 'a.b.c', true],
    ['a.>', 'a', false],
    ['a.b', 'a.b.c', false],
    ['*.b.>', 'x.b.y.z', true],
  ])('%s ~ %s = %s', (pattern, subject, expected) => {
    expect(m(pattern, subject)).toBe(expected);
  });
});
