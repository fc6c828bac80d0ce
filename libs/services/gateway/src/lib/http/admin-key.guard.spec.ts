import { ExecutionContext } from '@nestjs/common';

import { PortfolioError } from '@portfolio/contracts';

import { GatewaySettings } from '../gateway.settings';
import { AdminKeyGuard } from './admin-key.guard';

const KEY = 'pf_admin_5a1d3c0e9b';

function settings(adminKey: string | null): GatewaySettings {
  return {
    adminKey,
    bodyLimitBytes: 1024,
    requestTimeoutMs: 1000,
    loadTimeoutMs: 1000,
    configuredModels: [],
  };
}

/** The one stub allowed here: an HTTP execution context that only carries request headers. */
function contextWith(headers: Record<string, string>): ExecutionContext {
  return {
    switchToHttp: () => ({ getRequest: () => ({ headers }) }),
  } as unknown as ExecutionContext;
}

function refusal(
  sut: AdminKeyGuard,
  headers: Record<string, string>,
): PortfolioError {
  try {
    sut.canActivate(contextWith(headers));
  } catch (e) {
    expect(e).toBeInstanceOf(PortfolioError);
    return e as PortfolioError;
  }
  throw new Error('expected the guard to refuse');
}

describe(AdminKeyGuard.name, () => {
  describe('without a configured key', () => {
    const sut = new AdminKeyGuard(settings(null));

    it('lets every request through', () => {
      expect(sut.canActivate(contextWith({}))).toBe(true);
      expect(
        sut.canActivate(contextWith({ authorization: 'Bearer anything' })),
      ).toBe(true);
    });

    it('treats an empty key as no key', () => {
      expect(new AdminKeyGuard(settings('')).canActivate(contextWith({}))).toBe(
        true,
      );
    });
  });

  describe('with a configured key', () => {
    const sut = new AdminKeyGuard(settings(KEY));

    it('refuses a request without a key as UNAUTHORIZED, saying how to send one', () => {
      const e = refusal(sut, {});

      expect(e.code).toBe('UNAUTHORIZED');
      expect(e.message).toContain('Authorization: Bearer <key>');
    });

    it.each([
      ['a wrong bearer key', { authorization: 'Bearer not-the-key' }],
      [
        'a key that only starts like the right one',
        { authorization: `Bearer ${KEY.slice(0, -1)}` },
      ],
      [
        'the right key with extra characters',
        { authorization: `Bearer ${KEY}x` },
      ],
      ['a wrong X-API-Key', { 'x-api-key': 'not-the-key' }],
    ])('refuses %s as UNAUTHORIZED', (_what, headers) => {
      const e = refusal(sut, headers);

      expect(e.code).toBe('UNAUTHORIZED');
      expect(e.message).toBe('the API key is not valid');
    });

    it('allows `Authorization: Bearer <key>`', () => {
      expect(
        sut.canActivate(contextWith({ authorization: `Bearer ${KEY}` })),
      ).toBe(true);
    });

    it('allows the Bearer scheme in any case and with surrounding spaces', () => {
      expect(
        sut.canActivate(contextWith({ authorization: `bearer ${KEY}` })),
      ).toBe(true);
      expect(
        sut.canActivate(contextWith({ authorization: `  Bearer   ${KEY}  ` })),
      ).toBe(true);
    });

    it('allows `X-API-Key: <key>`', () => {
      expect(sut.canActivate(contextWith({ 'x-api-key': KEY }))).toBe(true);
    });

    it('refuses the Basic scheme, even carrying the key', () => {
      const basic = Buffer.from(`admin:${KEY}`).toString('base64');

      expect(refusal(sut, { authorization: `Basic ${basic}` }).code).toBe(
        'UNAUTHORIZED',
      );
      expect(refusal(sut, { authorization: `Basic ${KEY}` }).code).toBe(
        'UNAUTHORIZED',
      );
    });

    it('refuses an empty X-API-Key as a missing key', () => {
      expect(refusal(sut, { 'x-api-key': '' }).message).toContain(
        'needs an API key',
      );
    });
  });
});
