import { ApiKeys, CreateApiKeyRequest } from './keys.messages';

const valid = {
  name: 'ci',
  prefix: 'pf_abcd',
  key_sha256: 'a'.repeat(64),
  scopes: ['predict'],
};

describe('API key messages', () => {
  it('accepts a key by its hash with known scopes and a rate limit', () => {
    expect(
      CreateApiKeyRequest.safeParse({
        ...valid,
        scopes: ['predict', 'read', 'admin'],
        rate_limit: { requests_per_second: 0.5, burst: 1 },
      }).success,
    ).toBe(true);
  });

  it.each([
    ['an unknown scope', { scopes: ['root'] }],
    ['no scope at all', { scopes: [] }],
    ['a key instead of its hash', { key_sha256: 'pf_secret' }],
    ['an upper-case hash', { key_sha256: 'A'.repeat(64) }],
    ['an empty name', { name: '' }],
    ['a name over 100 characters', { name: 'n'.repeat(101) }],
    ['a zero rate', { rate_limit: { requests_per_second: 0, burst: 1 } }],
    [
      'a fractional burst',
      { rate_limit: { requests_per_second: 1, burst: 1.5 } },
    ],
  ])('refuses %s', (_what, change) => {
    expect(CreateApiKeyRequest.safeParse({ ...valid, ...change }).success).toBe(
      false,
    );
  });

  it('revokes and looks up by the id and the hash the schemas name', () => {
    expect(ApiKeys.revoke.request.safeParse({ id: 'not-a-uuid' }).success).toBe(
      false,
    );
    expect(
      ApiKeys.lookup.request.safeParse({ key_sha256: 'b'.repeat(64) }).success,
    ).toBe(true);
    expect(ApiKeys.changed.subject('p')).toBe('p.registry.key.changed.v1');
  });
});
