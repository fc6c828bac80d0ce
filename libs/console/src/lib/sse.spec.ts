import { backoffMs, SseParser } from './sse';

describe('SseParser', () => {
  it('reads messages with their event, data and id', () => {
    const p = new SseParser();

    const out = p.push(
      'retry: 2000\n\nid: g-1\nevent: model\ndata: {"a":1}\n\n: keep-alive\n\ndata: x\n\n',
    );

    expect(out).toEqual([
      { event: 'model', data: '{"a":1}', lastEventId: 'g-1' },
      // No id of its own: the stream's last id stays.
      { event: 'message', data: 'x', lastEventId: 'g-1' },
    ]);
    expect(p.retryMs).toBe(2000);
  });

  it('reads text cut anywhere, even between a CR and its LF', () => {
    const text = 'id: g-7\r\nevent: model\r\ndata: one\r\ndata: two\r\n\r\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const p = new SseParser();
      const out = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
      expect({ cut, out }).toEqual({
        cut,
        out: [{ event: 'model', data: 'one\ntwo', lastEventId: 'g-7' }],
      });
    }
  });

  it('takes CR alone and LF alone as line ends too', () => {
    const p = new SseParser();

    expect(p.push('data: a\rdata: b\n\rdata: c\r\r')).toEqual([
      { event: 'message', data: 'a\nb', lastEventId: '' },
    ]);
    // The last CR may have been the first half of a CRLF: it counts once more comes.
    expect(p.push('data: d\n\n')).toEqual([
      { event: 'message', data: 'c', lastEventId: '' },
      { event: 'message', data: 'd', lastEventId: '' },
    ]);
  });

  it('keeps a value without its one leading space, and a field without a colon as empty', () => {
    const p = new SseParser();

    expect(p.push('data:no space\ndata:  two spaces\ndata\n\n')).toEqual([
      { event: 'message', data: 'no space\n two spaces\n', lastEventId: '' },
    ]);
  });

  it('dispatches nothing for a message without data, and ignores bad retry and ids with NUL', () => {
    const p = new SseParser();

    expect(p.push('event: model\n\nretry: soon\nid: a\0b\n\n')).toEqual([]);
    expect(p.retryMs).toBeNull();
    expect(p.push('data: z\n\n')[0].lastEventId).toBe('');
  });

  it('waits for the blank line that ends a message', () => {
    const p = new SseParser();

    expect(p.push('data: partial')).toEqual([]);
    expect(p.push('\n')).toEqual([]);
    expect(p.push('\n')).toEqual([
      { event: 'message', data: 'partial', lastEventId: '' },
    ]);
  });
});

describe('backoffMs', () => {
  it("doubles the server's retry per failure, up to 30 s", () => {
    expect([0, 1, 2, 3, 4, 20].map((f) => backoffMs(2000, f))).toEqual([
      2000, 4000, 8000, 16000, 30000, 30000,
    ]);
  });
});
