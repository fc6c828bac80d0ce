import { every } from './app';

describe('every', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('calls at once, then again `ms` after each call ends, until stopped', async () => {
    let calls = 0;
    const loop = every(1000, async () => {
      calls++;
    });
    await jest.advanceTimersByTimeAsync(0);
    expect(calls).toBe(1);

    await jest.advanceTimersByTimeAsync(2500);
    expect(calls).toBe(3);

    loop.stop();
    await jest.advanceTimersByTimeAsync(5000);
    expect(calls).toBe(3);
  });

  it('never runs two calls at once: now() during a call runs one more right after it', async () => {
    let running = 0;
    let most = 0;
    let calls = 0;
    let finish: () => void = () => undefined;
    const loop = every(1000, async () => {
      calls++;
      running++;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => (finish = resolve));
      running--;
    });
    await jest.advanceTimersByTimeAsync(0);

    loop.now();
    loop.now();
    finish();
    await jest.advanceTimersByTimeAsync(0);
    finish();
    await jest.advanceTimersByTimeAsync(0);

    expect(most).toBe(1);
    expect(calls).toBe(2);
    loop.stop();
  });

  it('goes on after a call that fails', async () => {
    let calls = 0;
    const loop = every(1000, async () => {
      calls++;
      throw new Error('down');
    });
    await jest.advanceTimersByTimeAsync(1500);

    expect(calls).toBe(2);
    loop.stop();
  });
});
