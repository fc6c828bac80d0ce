import { MessageChannel } from 'node:worker_threads';

import { decodeFrame, encodeFrame, Tensor } from '@portfolio/tensor';

import { packForTransfer, transferList } from './transfer.util';

describe(packForTransfer.name, () => {
  /** Tensors as the bus hands them over: views into one shared frame buffer. */
  function viewsOfOneFrame(): {
    frame: Uint8Array;
    tensors: Record<string, Tensor>;
  } {
    const frame = encodeFrame({ model_id: 'm', version: 1 }, [
      {
        name: 'a',
        datatype: 'FP32',
        shape: [2, 3],
        data: Float32Array.from([1, 2, 3, 4, 5, 6]),
      },
      {
        name: 'b',
        datatype: 'INT64',
        shape: [3],
        data: BigInt64Array.from([7n, -8n, 9n]),
      },
      {
        name: 'c',
        datatype: 'UINT8',
        shape: [5],
        data: Uint8Array.from([1, 2, 3, 4, 5]),
      },
      {
        name: 'd',
        datatype: 'FP64',
        shape: [1],
        data: Float64Array.from([0.5]),
      },
    ]);
    const tensors: Record<string, Tensor> = {};
    for (const t of decodeFrame(frame).tensors)
      tensors[t.name] = { datatype: t.datatype, shape: t.shape, data: t.data };
    return { frame, tensors };
  }

  it('copies views of a shared buffer into one fresh buffer with the same values', () => {
    const { frame, tensors } = viewsOfOneFrame();
    expect(
      new Set(Object.values(tensors).map((t) => (t.data as Uint8Array).buffer)),
    ).toEqual(new Set([frame.buffer]));

    const sut = packForTransfer(tensors);

    expect(sut.buffer).not.toBe(frame.buffer);
    for (const [name, t] of Object.entries(sut.tensors)) {
      const data = t.data as Float32Array;
      expect(data.buffer).toBe(sut.buffer);
      expect(data.constructor).toBe(tensors[name].data.constructor);
      expect(t.datatype).toBe(tensors[name].datatype);
      expect(t.shape).toEqual(tensors[name].shape);
      expect(Array.from(data as ArrayLike<number>)).toEqual(
        Array.from(tensors[name].data as ArrayLike<number>),
      );
    }
    expect(Array.from(sut.tensors['b'].data as BigInt64Array)).toEqual([
      7n,
      -8n,
      9n,
    ]);
  });

  it('aligns every tensor to 8 bytes and sizes the buffer to fit them all', () => {
    const { tensors } = viewsOfOneFrame();

    const sut = packForTransfer(tensors);

    const views = Object.values(sut.tensors).map((t) => t.data as Uint8Array);
    for (const v of views) expect(v.byteOffset % 8).toBe(0);
    // 24 (a) + 24 (b) + 5 -> 8 (c) + 8 (d)
    expect(sut.buffer.byteLength).toBe(24 + 24 + 8 + 8);
    const ends = views.map((v) => v.byteOffset + v.byteLength);
    expect(Math.max(...ends)).toBeLessThanOrEqual(sut.buffer.byteLength);
  });

  it('does not detach the source when the packed buffer is transferred', () => {
    const { frame, tensors } = viewsOfOneFrame();
    const sut = packForTransfer(tensors);
    const { port1, port2 } = new MessageChannel();
    try {
      port1.postMessage(sut.tensors, transferList(sut.tensors));
    } finally {
      port1.close();
      port2.close();
    }

    expect(sut.buffer.byteLength).toBe(0); // transferred away
    expect(frame.byteLength).toBeGreaterThan(0);
    expect(Array.from(tensors['a'].data as Float32Array)).toEqual([
      1, 2, 3, 4, 5, 6,
    ]);
    expect(Array.from(tensors['b'].data as BigInt64Array)).toEqual([
      7n,
      -8n,
      9n,
    ]);
  });

  it('passes BYTES tensors through unchanged and leaves them out of the buffer', () => {
    const text: Tensor = {
      datatype: 'BYTES',
      shape: [2],
      data: ['hello', 'world'],
    };
    const x: Tensor = {
      datatype: 'FP32',
      shape: [1],
      data: Float32Array.from([3]),
    };

    const sut = packForTransfer({ text, x });

    expect(sut.tensors['text']).toBe(text);
    expect(sut.buffer.byteLength).toBe(8);
    expect(Array.from(sut.tensors['x'].data as Float32Array)).toEqual([3]);
  });

  it('packs nothing into an empty buffer', () => {
    const sut = packForTransfer({});

    expect(sut.tensors).toEqual({});
    expect(sut.buffer.byteLength).toBe(0);
  });
});

describe(transferList.name, () => {
  it('lists each buffer once, even when several tensors share it', () => {
    const shared = new ArrayBuffer(32);
    const own = new Float32Array(2);

    const sut = transferList({
      a: { datatype: 'FP32', shape: [2], data: new Float32Array(shared, 0, 2) },
      b: { datatype: 'FP32', shape: [2], data: new Float32Array(shared, 8, 2) },
      c: { datatype: 'FP32', shape: [2], data: own },
    });

    expect(sut).toHaveLength(2);
    expect(sut).toEqual(expect.arrayContaining([shared, own.buffer]));
    // A list with duplicates would make postMessage throw; this one does not.
    const { port1, port2 } = new MessageChannel();
    try {
      expect(() => port1.postMessage(null, sut)).not.toThrow();
    } finally {
      port1.close();
      port2.close();
    }
  });

  it('skips BYTES tensors and SharedArrayBuffer views', () => {
    const sut = transferList({
      text: { datatype: 'BYTES', shape: [1], data: ['x'] },
      shared: {
        datatype: 'FP32',
        shape: [1],
        data: new Float32Array(new SharedArrayBuffer(4)),
      },
    });

    expect(sut).toEqual([]);
  });
});
