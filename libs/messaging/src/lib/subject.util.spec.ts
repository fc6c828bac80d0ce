import { BusError } from './bus';
import { assertPlainSubject, subjectTokens } from './subject.util';

describe('assertPlainSubject', () => {
  it.each([
    'a',
    'portfolio.runtime.node-1.infer.v1',
    '_INBOX.abc_DEF-9.12',
    '',
    'a..b',
    '.a',
    'a.',
    'a.*',
    'a.>',
    'a b',
    'ä.b',
    'a.b\n',
  ])(
    'accepts and refuses what subjectTokens does for sending: %j',
    (subject) => {
      const expected = (() => {
        try {
          subjectTokens(subject, false);
          return 'ok';
        } catch (e) {
          return (e as BusError).code;
        }
      })();

      const got = (() => {
        try {
          assertPlainSubject(subject);
          return 'ok';
        } catch (e) {
          return (e as BusError).code;
        }
      })();

      expect(got).toBe(expected);
    },
  );
});
