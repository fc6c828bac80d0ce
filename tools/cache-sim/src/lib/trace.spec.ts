import { parseTrace, toRecords, TraceFormatError } from './trace';

const line = (o: object) => JSON.stringify(o);
const rec = (
  time_ms: number,
  model_id: string,
  size_bytes = 100,
  load_ms = 10,
) => ({
  time_ms,
  model_id,
  version: 1,
  size_bytes,
  load_ms,
});

describe(parseTrace.name, () => {
  it("numbers models densely and orders requests by time (several runtimes' files concatenated)", () => {
    const t = parseTrace(
      [line(rec(30, 'b')), '', line(rec(10, 'a')), line(rec(20, 'b'))].join(
        '\n',
      ),
      't',
    );
    expect(t.models.map((m) => m.key)).toEqual(['a@1', 'b@1']);
    expect([...t.requests.timeMs]).toEqual([10, 20, 30]);
    expect([...t.requests.model]).toEqual([0, 1, 1]);
  });

  it('keeps the largest size and load time seen for a model', () => {
    const t = parseTrace(
      [line(rec(1, 'a', 100, 50)), line(rec(2, 'a', 300, 20))].join('\n'),
      't',
    );
    expect(t.models).toEqual([{ key: 'a@1', bytes: 300, loadMs: 50 }]);
  });

  it.each([
    ['{not json', 't:2: not JSON'],
    ['[1,2]', 't:2: a record must be a JSON object'],
    [
      line({ ...rec(1, 'a'), version: 0 }),
      't:2: "version" must be an integer >= 1, got 0',
    ],
    [
      line({ ...rec(1, 'a'), size_bytes: 'big' }),
      't:2: "size_bytes" must be an integer >= 1, got "big"',
    ],
    [
      line({ ...rec(1, ''), model_id: '' }),
      't:2: "model_id" must be a non-empty string',
    ],
    [
      line({ ...rec(1, 'a'), time_ms: -5 }),
      't:2: "time_ms" must be a number >= 0, got -5',
    ],
  ])('refuses %s with the line and the field at fault', (bad, message) => {
    expect(() => parseTrace(`${line(rec(0, 'a'))}\n${bad}`, 't')).toThrow(
      new TraceFormatError(message),
    );
  });

  it('refuses a trace without requests', () => {
    expect(() => parseTrace('\n\n', 'empty.jsonl')).toThrow(
      'empty.jsonl: no requests in the trace',
    );
  });

  it('writes back what it read', () => {
    const records = [rec(1, 'a', 100, 5), rec(2, 'b', 200, 7)];
    expect([
      ...toRecords(parseTrace(records.map(line).join('\n'), 't')),
    ]).toEqual(records);
  });
});
