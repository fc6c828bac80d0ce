import { JsonElementBudget, jsonElementCount } from './json-elements';

describe(jsonElementCount.name, () => {
  it.each([
    ['a scalar', 3.5, 1],
    ['a row', [1, 2, 3], 3],
    [
      'rows',
      [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
      6,
    ],
    ['an empty batch', [], 0],
    ['a tensor object by its shape', { shape: [4, 5], data: [1] }, 20],
    [
      'a tensor object by its data when larger',
      {
        shape: [1],
        data: [
          [1, 2],
          [3, 4],
        ],
      },
      4,
    ],
  ])('counts %s', (_what, value, count) => {
    expect(jsonElementCount(value)).toBe(count);
  });
});

describe(JsonElementBudget.name, () => {
  it('lets inputs through up to the limit and refuses the one past it with 413, naming it', () => {
    const budget = new JsonElementBudget(5);
    budget.take('a', [
      [1, 2],
      [3, 4],
    ]);

    expect(() => budget.take('b', [1])).not.toThrow();
    expect(() => budget.take('c', [1])).toThrow(
      expect.objectContaining({
        code: 'PAYLOAD_TOO_LARGE',
        details: { input: 'c', elements: 6, limit: 5 },
      }),
    );
  });
});
