import { ERROR_CODES, isErrorCode } from './error-codes';
import { isPortfolioError, PortfolioError } from './portfolio.error';

describe(PortfolioError.name, () => {
  it('crosses the bus intact: fromBody(toJSON()) gives back code, message and details', () => {
    const sent = new PortfolioError(
      'MODEL_NOT_FOUND',
      'model "iris" is not registered',
      {
        model_id: 'iris',
      },
    );

    const received = PortfolioError.fromBody(
      JSON.parse(JSON.stringify(sent.toJSON())),
    );

    expect(received).toBeInstanceOf(PortfolioError);
    expect(isPortfolioError(received)).toBe(true);
    expect(received).toMatchObject({
      code: 'MODEL_NOT_FOUND',
      message: 'model "iris" is not registered',
      details: { model_id: 'iris' },
    });
  });

  it('sends no details key when there are none', () => {
    expect(new PortfolioError('TIMEOUT', 'too slow').toJSON()).toEqual({
      code: 'TIMEOUT',
      message: 'too slow',
    });
  });

  describe('fromBody on a malformed error reply', () => {
    it.each([
      ['null', null],
      ['undefined', undefined],
      ['a string', 'MODEL_NOT_FOUND'],
      ['a number', 404],
    ])(
      'makes %s an INTERNAL error saying the reply was malformed',
      (_what, body) => {
        const e = PortfolioError.fromBody(body);

        expect(e).toBeInstanceOf(PortfolioError);
        expect(e.code).toBe('INTERNAL');
        expect(e.message).toBe('malformed error reply');
        expect(e.details).toBeUndefined();
      },
    );

    it('keeps the message of a reply whose code it does not know, as INTERNAL', () => {
      const e = PortfolioError.fromBody({
        code: 'MODEL_ON_FIRE',
        message: 'something new',
      });

      expect(e.code).toBe('INTERNAL');
      expect(e.message).toBe('something new');
    });

    it('does not take a code in another case for a known one', () => {
      expect(PortfolioError.fromBody({ code: 'model_not_found' }).code).toBe(
        'INTERNAL',
      );
    });

    it('says "unknown error" when the message is missing or not a string', () => {
      expect(PortfolioError.fromBody({ code: 'TIMEOUT' }).message).toBe(
        'unknown error',
      );
      expect(
        PortfolioError.fromBody({ code: 'TIMEOUT', message: { text: 'x' } })
          .message,
      ).toBe('unknown error');
    });

    it.each([
      ['a string', 'model_id=iris'],
      ['null', null],
      ['a list', ['iris']],
    ])('drops details that are %s', (_what, details) => {
      expect(
        PortfolioError.fromBody({ code: 'TIMEOUT', message: 'm', details })
          .details,
      ).toBeUndefined();
    });
  });
});

describe(isErrorCode.name, () => {
  it('knows exactly the listed codes', () => {
    for (const code of ERROR_CODES) expect(isErrorCode(code)).toBe(true);
    for (const value of ['', 'internal', 'toString', 'constructor', null, 500])
      expect(isErrorCode(value)).toBe(false);
  });
});
