import { chooseRuntime } from './choose-runtime';
import { RuntimeCandidate } from './placement.types';

const rt = (
  nodeId: string,
  capacityBytes: number,
  usedBytes: number,
  modelsLoaded = 0,
): RuntimeCandidate => ({
  nodeId,
  capacityBytes,
  usedBytes,
  modelsLoaded,
});

describe(chooseRuntime.name, () => {
  it('picks the runtime with the most free memory', () => {
    expect(
      chooseRuntime([rt('a', 100, 80), rt('b', 100, 20), rt('c', 50, 0)], {
        bytes: 10,
      }),
    ).toEqual({ kind: 'place', nodeId: 'b' });
  });

  it('breaks ties by fewer models, then by node id', () => {
    expect(
      chooseRuntime([rt('b', 100, 0, 2), rt('a', 100, 0, 3)], { bytes: 10 }),
    ).toEqual({ kind: 'place', nodeId: 'b' });
    expect(
      chooseRuntime([rt('b', 100, 0), rt('a', 100, 0)], { bytes: 10 }),
    ).toEqual({ kind: 'place', nodeId: 'a' });
  });

  it('accepts an exact fit', () => {
    expect(chooseRuntime([rt('a', 100, 60)], { bytes: 40 })).toEqual({
      kind: 'place',
      nodeId: 'a',
    });
  });

  it('never picks an excluded runtime', () => {
    expect(
      chooseRuntime([rt('a', 100, 0), rt('b', 100, 90)], {
        bytes: 5,
        exclude: ['a'],
      }),
    ).toEqual({ kind: 'place', nodeId: 'b' });
    expect(
      chooseRuntime([rt('a', 100, 0)], { bytes: 5, exclude: ['a'] }),
    ).toEqual({ kind: 'no-runtime' });
  });

  it('says there is no runtime at all', () => {
    expect(chooseRuntime([], { bytes: 1 })).toEqual({ kind: 'no-runtime' });
  });

  it('reports the most room there is when nothing fits', () => {
    expect(
      chooseRuntime([rt('a', 100, 70), rt('b', 200, 150)], { bytes: 60 }),
    ).toEqual({
      kind: 'no-room',
      largestFreeBytes: 50,
      largestCapacityBytes: 200,
    });
  });

  it('treats an over-committed runtime as having no room, not negative room', () => {
    expect(chooseRuntime([rt('a', 100, 130)], { bytes: 1 })).toEqual({
      kind: 'no-room',
      largestFreeBytes: 0,
      largestCapacityBytes: 100,
    });
  });
});
