import { decideCopies, DEFAULT_COPY_POLICY } from './copy-policy';

const observed = (over: Partial<Parameters<typeof decideCopies>[0]> = {}) => ({
  copies: 1,
  maxCopies: 2,
  busyMs: 0,
  copyWaitMs: 0,
  intervalMs: 1000,
  ...over,
});

describe(decideCopies.name, () => {
  const options = DEFAULT_COPY_POLICY;

  it('adds a copy when runs waited for one a fifth of the interval or more', () => {
    expect(
      decideCopies(
        observed({ busyMs: 1000, copyWaitMs: 200 }),
        null,
        0,
        options,
      ),
    ).toEqual({ action: 'add', quietSince: null });
    expect(
      decideCopies(
        observed({ busyMs: 1000, copyWaitMs: 199 }),
        null,
        0,
        options,
      ).action,
    ).toBeNull();
  });

  it('never goes past the most copies allowed', () => {
    expect(
      decideCopies(
        observed({ copies: 2, maxCopies: 2, busyMs: 2000, copyWaitMs: 900 }),
        null,
        0,
        options,
      ).action,
    ).toBeNull();
  });

  it('drops an extra copy once its copies stayed quiet for the cool-down, not before', () => {
    const quiet = observed({ copies: 2, busyMs: 100 });

    const first = decideCopies(quiet, null, 5_000, options);
    const before = decideCopies(quiet, first.quietSince, 34_999, options);
    const after = decideCopies(quiet, first.quietSince, 35_000, options);

    expect(first).toEqual({ action: null, quietSince: 5_000 });
    expect(before).toEqual({ action: null, quietSince: 5_000 });
    expect(after).toEqual({ action: 'drop', quietSince: null });
  });

  it('starts the cool-down again when the copies get busy or runs wait', () => {
    expect(
      decideCopies(
        observed({ copies: 2, busyMs: 700 }),
        1_000,
        40_000,
        options,
      ),
    ).toEqual({ action: null, quietSince: null });
    expect(
      decideCopies(
        observed({ copies: 2, busyMs: 0, copyWaitMs: 1 }),
        1_000,
        40_000,
        options,
      ),
    ).toEqual({ action: null, quietSince: null });
  });

  it('never drops the only copy', () => {
    expect(
      decideCopies(observed({ copies: 1 }), 0, 1_000_000, options),
    ).toEqual({ action: null, quietSince: null });
  });
});
