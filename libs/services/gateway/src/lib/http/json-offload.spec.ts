import { PackedNumbers, Tensor, tensorToNested } from '@portfolio/tensor';

import { jsonPack, JsonOffload } from './json-offload';

const utf8 = (text: string) => new TextEncoder().encode(text);
const grid = (rows: number, cols: number, at = 0) =>
  Array.from({ length: rows }, (_, r) =>
    Array.from({ length: cols }, (_, c) => at + r * cols + c + 0.5),
  );

describe(JsonOffload.name, () => {
  const sut = new JsonOffload();
  afterAll(() => sut.onModuleDestroy());

  describe('parse', () => {
    it('gives what JSON.parse gives, each large rectangular array of numbers as PackedNumbers', async () => {
      const big = grid(600, 4);
      const body = {
        inputs: { x: big, small: [[1, 2]], label: 'a' },
        v2: [{ name: 'y', shape: [2048], data: big.flat().slice(0, 2048) }],
      };

      const value = (await sut.parse(utf8(JSON.stringify(body)))) as {
        inputs: { x: PackedNumbers; small: unknown; label: unknown };
        v2: { name: string; shape: number[]; data: PackedNumbers }[];
      };

      expect(value.inputs.x).toBeInstanceOf(PackedNumbers);
      expect(value.inputs.x.shape).toEqual([600, 4]);
      expect(Array.from(value.inputs.x.data)).toEqual(big.flat());
      expect(value.inputs.small).toEqual([[1, 2]]);
      expect(value.inputs.label).toBe('a');
      expect(value.v2[0].name).toBe('y');
      expect(value.v2[0].data).toBeInstanceOf(PackedNumbers);
      expect(value.v2[0].data.shape).toEqual([2048]);
    });

    it('leaves arrays it cannot pack as they are, and the arrays inside them: ragged, not all numbers, too deep', async () => {
      // Rows large enough to pack on their own: the outer array must stay whole, so that
      // the conversion says what is wrong with it.
      const ragged = [...grid(3, 2048), [1, 2, 3]];
      const mixed = [...grid(600, 4).flat(), 'x'];
      let deep: unknown = Array.from({ length: 2048 }, () => 1);
      for (let i = 0; i < 64; i++) deep = [deep];
      const body = { ragged, mixed, deep };

      const value = await sut.parse(utf8(JSON.stringify(body)));

      expect(value).toEqual(body);
    });

    it('packs a whole body that is one array', async () => {
      const value = await sut.parse(utf8(JSON.stringify(grid(512, 4))));

      expect(value).toBeInstanceOf(PackedNumbers);
      expect((value as PackedNumbers).shape).toEqual([512, 4]);
    });

    it('refuses what is not JSON with the engine own message and status 400', async () => {
      const text = `{"inputs": [${'1,'.repeat(5000)}]}`;
      const expected = catchSyntax(() => JSON.parse(text));

      await expect(sut.parse(utf8(text))).rejects.toMatchObject({
        name: 'SyntaxError',
        message: expected,
        statusCode: 400,
      });
    });

    it.each([
      ['{"a": {"__proto__": {"polluted": true}}}'],
      ['{"a": [{"constructor": {"prototype": {"polluted": true}}}]}'],
    ])('refuses prototype poisoning as Fastify does: %s', async (text) => {
      await expect(sut.parse(utf8(text))).rejects.toMatchObject({
        message: 'Object contains forbidden prototype property',
        statusCode: 400,
      });
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    });

    it('copies the bytes, or moves their buffer when told to give it away and it is all theirs', async () => {
      const whole = utf8(`xx${JSON.stringify({ a: [1, 2] })}yy`);
      const view = Buffer.from(whole.buffer, 2, whole.length - 4);
      const kept = utf8('{"b": 1}');
      const given = utf8('{"c": 2}');

      await expect(sut.parse(view, { giveAway: true })).resolves.toEqual({
        a: [1, 2],
      });
      await expect(sut.parse(kept)).resolves.toEqual({ b: 1 });
      await expect(sut.parse(given, { giveAway: true })).resolves.toEqual({
        c: 2,
      });

      expect(whole.byteLength).toBe(view.byteLength + 4);
      expect(kept.byteLength).toBe(8);
      expect(given.byteLength).toBe(0);
    });

    it('reads strict UTF-8 and lets prototype keys through when told to, as the /v2 decoder does', async () => {
      const bad = Buffer.concat([
        utf8('{"a": "'),
        Buffer.from([0xff]),
        utf8('"}'),
      ]);

      await expect(sut.parse(bad)).resolves.toEqual({ a: '\ufffd' });
      await expect(sut.parse(bad, { strictUtf8: true })).rejects.toMatchObject({
        name: 'SyntaxError',
        statusCode: 400,
      });
      await expect(
        sut.parse(utf8('{"__proto__": 1}'), { refusePoisoning: false }),
      ).resolves.toEqual(JSON.parse('{"__proto__": 1}'));
    });
  });

  describe('stringify', () => {
    const tensors: Record<string, Tensor> = {
      fp32: {
        datatype: 'FP32',
        shape: [300, 3],
        data: Float32Array.from({ length: 900 }, (_, i) => i / 7),
      },
      int64: {
        datatype: 'INT64',
        shape: [4, 2, 2],
        data: BigInt64Array.from({ length: 16 }, (_, i) => BigInt(i - 8)),
      },
      fp16: {
        datatype: 'FP16',
        shape: [3],
        data: Uint16Array.of(0x3c00, 0xc000, 0x3555),
      },
      bool: { datatype: 'BOOL', shape: [2], data: Uint8Array.of(1, 0) },
      bytes: { datatype: 'BYTES', shape: [1], data: ['é"x'] },
    };

    it('writes byte for byte what JSON.stringify of the nested tensors writes', async () => {
      const inline = JSON.stringify({
        id: 'm',
        outputs: Object.fromEntries(
          Object.entries(tensors).map(([k, t]) => [k, tensorToNested(t)]),
        ),
      });
      const outputs: Record<string, unknown> = {};
      const packs = [];
      for (const [name, t] of Object.entries(tensors)) {
        const pack = jsonPack(['outputs', name], t);
        if (pack) packs.push(pack);
        outputs[name] = pack ? null : tensorToNested(t);
      }

      const bytes = await sut.stringify({ id: 'm', outputs }, packs);

      expect(packs.map((p) => p.path[1])).toEqual(['fp32', 'int64', 'fp16']);
      expect(new TextDecoder().decode(bytes)).toBe(inline);
    });

    it('copies a view into a larger buffer, not the whole buffer, and leaves it usable', async () => {
      const backing = new Float32Array(4096).fill(2);
      const t: Tensor = {
        datatype: 'FP32',
        shape: [2],
        data: backing.subarray(10, 12),
      };
      const pack = jsonPack(['y'], t);

      const bytes = await sut.stringify({ y: null }, pack ? [pack] : []);

      expect(pack?.data.byteLength).toBe(8);
      expect(new TextDecoder().decode(bytes)).toBe('{"y":[2,2]}');
      expect(t.data.length).toBe(2);
    });
  });

  it('fails the jobs of a thread that dies, and starts another for the next', async () => {
    const offload = new JsonOffload();
    await offload.parse(utf8('[1]'));
    const worker = (
      offload as unknown as { worker: { terminate(): Promise<number> } }
    ).worker;

    const pending = offload.parse(utf8(JSON.stringify(grid(20000, 8))));
    await worker.terminate();

    await expect(pending).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(offload.parse(utf8('{"a": 1}'))).resolves.toEqual({ a: 1 });
    await offload.onModuleDestroy();
  });
});

function catchSyntax(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected a SyntaxError');
}
