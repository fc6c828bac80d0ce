import { formatBytes, formatFields, formatLabels, formatTable } from './format';

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [786432, '768.0 KiB'],
    [18542592, '17.7 MiB'],
    [2147483648, '2.0 GiB'],
    [null, '-'],
  ])('%s -> %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe('formatTable', () => {
  it('aligns columns, right-aligns the numeric ones, trims line ends', () => {
    const text = formatTable(
      ['ID', 'SIZE', 'NOTE'],
      [
        ['iris', '1.5 KiB', null],
        ['a-much-longer-id', '17.7 MiB', 'x'],
      ],
      { right: [1] },
    );
    expect(text.split('\n')).toEqual([
      'ID                    SIZE  NOTE',
      'iris               1.5 KiB  -',
      'a-much-longer-id  17.7 MiB  x',
    ]);
  });

  it('writes no escape sequences unless asked for color', () => {
    const rows = [['a', ['n1', 'n2']]];
    expect(formatTable(['A', 'B'], rows)).not.toContain('\u001b');
    expect(formatTable(['A', 'B'], rows)).toContain('n1,n2');
    expect(formatTable(['A', 'B'], rows, { color: true })).toContain(
      '\u001b[1m',
    );
  });

  it('formats fields and labels', () => {
    expect(
      formatFields([
        ['id', 'x'],
        ['description', null],
      ]),
    ).toBe('id:          x\ndescription: -');
    expect(formatLabels({ team: 'red', tier: 'gold' })).toBe(
      'team=red,tier=gold',
    );
    expect(formatLabels({})).toBe('-');
  });
});
