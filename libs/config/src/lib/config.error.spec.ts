import { ConfigError, envSource, formatProblem } from './config.error';

describe('formatProblem', () => {
  it('names source and key for a file problem', () => {
    expect(
      formatProblem({
        source: '/etc/p.yaml',
        key: 'gateway.port',
        detail: 'bad',
      }),
    ).toBe('Invalid configuration in /etc/p.yaml at gateway.port: bad');
  });

  it('does not repeat the key when the source is that environment variable', () => {
    expect(
      formatProblem({
        source: envSource('PORTFOLIO_X'),
        key: 'PORTFOLIO_X',
        detail: 'bad',
      }),
    ).toBe('Invalid configuration in environment variable PORTFOLIO_X: bad');
  });

  it('leaves out the key for problems with the file as a whole', () => {
    expect(
      formatProblem({ source: '/etc/p.yaml', key: '(file)', detail: 'bad' }),
    ).toBe('Invalid configuration in /etc/p.yaml: bad');
  });
});

describe('ConfigError', () => {
  it('takes key and source from the first problem and lists every problem', () => {
    const error = new ConfigError(
      { source: '/a.yaml', key: 'cache.ttl', detail: 'one' },
      {
        source: envSource('PORTFOLIO_LOG_LEVEL'),
        key: 'PORTFOLIO_LOG_LEVEL',
        detail: 'two',
      },
    );
    expect(error.key).toBe('cache.ttl');
    expect(error.source).toBe('/a.yaml');
    expect(error.message).toBe(
      'Invalid configuration in /a.yaml at cache.ttl: one\nInvalid configuration in environment variable PORTFOLIO_LOG_LEVEL: two',
    );
    expect(error.problems).toHaveLength(2);
    expect(Object.isFrozen(error.problems)).toBe(true);
  });

  it('throwIfAny throws only for a non-empty list', () => {
    expect(() => ConfigError.throwIfAny([])).not.toThrow();
    expect(() =>
      ConfigError.throwIfAny([{ source: 's', key: 'k', detail: 'd' }]),
    ).toThrow(ConfigError);
    expect(() => ConfigError.of([])).toThrow(TypeError);
  });
});
