import { Ring } from './ring';

describe('Ring', () => {
  it('keeps the last `capacity` items, oldest first', () => {
    const ring = new Ring<number>(3);
    expect(ring.toArray()).toEqual([]);
    expect(ring.last()).toBeUndefined();

    for (let i = 1; i <= 7; i++) ring.push(i);

    expect(ring.toArray()).toEqual([5, 6, 7]);
    expect(ring.size).toBe(3);
    expect(ring.last()).toBe(7);
  });

  it('holds fewer than its capacity until it is full', () => {
    const ring = new Ring<string>(4);
    ring.push('a');
    ring.push('b');

    expect(ring.toArray()).toEqual(['a', 'b']);
    expect(ring.size).toBe(2);
  });

  it.each([0, -1, 1.5, NaN])('refuses capacity %p', (capacity) => {
    expect(() => new Ring(capacity)).toThrow(RangeError);
  });
});
