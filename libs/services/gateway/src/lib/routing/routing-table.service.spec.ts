import { InProcessBus, Messaging } from '@portfolio/messaging';

import { RoutingTableService } from './routing-table.service';

function withRoutes(routes: Record<string, string[]>): RoutingTableService {
  const sut = new RoutingTableService(
    new Messaging(new InProcessBus(), 'unit', 1000),
  );
  sut.accept({
    instance: 'cm-1',
    epoch: 1,
    generated_at: '2026-01-01T00:00:00.000Z',
    routes: Object.entries(routes).map(([k, nodes]) => {
      const [model_id, version] = k.split('@');
      return { model_id, version: Number(version), nodes };
    }),
  });
  return sut;
}

describe(RoutingTableService.name, () => {
  it('sends each request to the copy with the fewest requests in flight', () => {
    const sut = withRoutes({ 'm@1': ['r1', 'r2', 'r3'] });
    const busy = [sut.track('r1'), sut.track('r1'), sut.track('r3')];

    const picks = [1, 2, 3, 4].map(() => sut.pick('m', 1));

    expect(picks).toEqual(['r2', 'r2', 'r2', 'r2']);
    busy.forEach((done) => done());
  });

  it('takes copies in turn when they have as many in flight', () => {
    const sut = withRoutes({ 'm@1': ['r1', 'r2', 'r3'] });

    const picks = [1, 2, 3, 4, 5, 6].map(() => sut.pick('m', 1));

    expect(picks).toEqual(['r1', 'r2', 'r3', 'r1', 'r2', 'r3']);
  });

  it('follows the requests as they start and end', () => {
    const sut = withRoutes({ 'm@1': ['r1', 'r2'] });
    const first = sut.track(sut.pick('m', 1) as string);
    const second = sut.track(sut.pick('m', 1) as string);
    expect(sut.inFlightOn('r1')).toBe(1);
    expect(sut.inFlightOn('r2')).toBe(1);

    first();
    first(); // a second call changes nothing
    expect(sut.inFlightOn('r1')).toBe(0);
    expect(sut.pick('m', 1)).toBe('r1');
    expect(sut.pick('m', 1)).toBe('r1');
    second();
    expect([...sut.inFlightByNode()]).toEqual([]);
  });

  it('forgets a dead node for every model it served, and a pair it lost for that pair only', () => {
    const sut = withRoutes({
      'a@1': ['r1', 'r2'],
      'b@1': ['r1'],
      'c@2': ['r2'],
    });

    sut.forget('c', 2, 'r2');
    expect(sut.pick('c', 2)).toBeNull();
    expect(sut.pick('a', 1)).not.toBeNull();

    sut.forgetNode('r1');
    expect(sut.pick('b', 1)).toBeNull();
    expect([1, 2, 3].map(() => sut.pick('a', 1))).toEqual(['r2', 'r2', 'r2']);
  });

  it('is a miss for a pair the table does not list', () => {
    expect(withRoutes({ 'a@1': ['r1'] }).pick('a', 2)).toBeNull();
  });
});
