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

  it("hands a request's attachment to the handler, and the reply's back, by reference", async () => {
    const bus = new InProcessBus();
    const sent = { tensors: [1] };
    const answered = { tensors: [2] };
    let received: unknown = null;
    bus.subscribe('a.b', (m) => {
      received = m.attachment;
      return { data: new Uint8Array(0), attachment: answered };
    });

    const reply = await bus.request('a.b', new Uint8Array(0), {
      timeoutMs: 100,
      attachment: sent,
    });

    expect(received).toBe(sent);
    expect(reply.attachment).toBe(answered);
  });

  it('routes to subscribers added or removed after a subject was last used', async () => {
    const bus = new InProcessBus();
    const request = () =>
      bus.request('a.b', new Uint8Array(0), { timeoutMs: 100 });
    const first = bus.subscribe('a.b', () => ({ data: Uint8Array.of(1) }));
    expect((await request()).data).toEqual(Uint8Array.of(1));

    first.unsubscribe();
    await expect(request()).rejects.toMatchObject({ code: 'NO_RESPONDERS' });
    bus.subscribe('a.*', () => ({ data: Uint8Array.of(2) }), { queue: 'q' });
    bus.subscribe('a.>', () => ({ data: Uint8Array.of(3) }), { queue: 'q' });

    const answers = [(await request()).data[0], (await request()).data[0]];
    expect(answers.sort()).toEqual([2, 3]);
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
