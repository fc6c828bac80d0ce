import { closestNames } from './closest-name.util';

const KNOWN = [
  'APP_GATEWAY_PORT',
  'APP_GATEWAY_HOST',
  'APP_CACHE_MAX_MEMORY',
  'APP_RUNTIME_MAX_MEMORY',
  'APP_NATS_URL',
  'APP_NATS_REQUEST_TIMEOUT',
  'APP_GATEWAY_REQUEST_TIMEOUT',
  'APP_LOG_LEVEL',
];

describe('closestNames', () => {
  it.each<[string, string[]]>([
    ['APP_GATEWAY_PROT', ['APP_GATEWAY_PORT']],
    ['APP_NATS_URLS', ['APP_NATS_URL']],
    ['APP_LOGLEVEL', ['APP_LOG_LEVEL']],
    ['APP_PORT', ['APP_GATEWAY_PORT']],
    ['APP_NATS_TIMEOUT', ['APP_NATS_REQUEST_TIMEOUT']],
    ['APP_MAX_MEMORY', ['APP_CACHE_MAX_MEMORY', 'APP_RUNTIME_MAX_MEMORY']],
  ])('suggests for %p', (name, expected) => {
    expect(closestNames(name, KNOWN, 'APP_')).toEqual(expected);
  });

  it.each<[string]>([
    ['APP_BANANA'],
    ['APP_TIMEOUT_REQUEST'],
    ['APP_'],
    ['APP_MEMORY_MAX_CACHE_SIZE'],
  ])('suggests nothing for %p', (name) => {
    expect(closestNames(name, KNOWN, 'APP_')).toEqual([]);
  });

  it('suggests nothing when more than two names fit equally', () => {
    expect(
      closestNames(
        'APP_REQUEST',
        ['APP_A_REQUEST', 'APP_B_REQUEST', 'APP_C_REQUEST'],
        'APP_',
      ),
    ).toEqual([]);
  });
});
