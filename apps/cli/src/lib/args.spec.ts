import { COMMANDS, parseCommandLine, type ParsedCommand } from './args';
import { UsageError } from './errors';

function parse(line: string): ParsedCommand {
  const parsed = parseCommandLine(line.split(' ').filter(Boolean));
  if (parsed.kind !== 'command') throw new Error(`help for ${line}`);
  return parsed;
}

function usageError(line: string): UsageError {
  try {
    parseCommandLine(line.split(' ').filter(Boolean));
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error(`no usage error for: ${line}`);
}

describe('parseCommandLine', () => {
  it.each([
    ['models list', 'models list', {}, {}],
    [
      'models list --label team=red --label tier=gold',
      'models list',
      {},
      { label: ['team=red', 'tier=gold'] },
    ],
    ['models get fraud', 'models get', { id: 'fraud' }, {}],
    [
      'models register fraud ./m.onnx --format onnx --alias production',
      'models register',
      { id: 'fraud', path: './m.onnx' },
      { format: 'onnx', alias: 'production' },
    ],
    ['versions list fraud', 'versions list', { id: 'fraud' }, {}],
    [
      'versions promote fraud 2 --alias staging',
      'versions promote',
      { id: 'fraud', version: '2' },
      { alias: 'staging' },
    ],
    [
      'load fraud --version 2 --copies 3',
      'load',
      { id: 'fraud' },
      { version: '2', copies: '3' },
    ],
    ['unload fraud --version 1', 'unload', { id: 'fraud' }, { version: '1' }],
    ['cache status', 'cache status', {}, {}],
    [
      'keys create ci --scopes predict,read',
      'keys create',
      { name: 'ci' },
      { scopes: 'predict,read' },
    ],
    ['keys list', 'keys list', {}, {}],
    ['keys revoke 7c0e', 'keys revoke', { id: '7c0e' }, {}],
  ])('%s', (line, command, args, options) => {
    const parsed = parse(line);
    expect(parsed.spec.path.join(' ')).toBe(command);
    expect(parsed.args).toEqual(args);
    expect(parsed.options).toMatchObject(options);
  });

  it('covers every command in the tests above', () => {
    expect(COMMANDS.map((c) => c.path.join(' '))).toEqual([
      'models list',
      'models get',
      'models register',
      'versions list',
      'versions promote',
      'load',
      'unload',
      'cache status',
      'keys create',
      'keys list',
      'keys revoke',
    ]);
  });

  it('takes the global options anywhere on the line', () => {
    const parsed = parse(
      '--url http://h:1 models --json list --key k1 --label a=b',
    );
    expect(parsed.spec.path).toEqual(['models', 'list']);
    expect(parsed.options).toMatchObject({
      url: 'http://h:1',
      key: 'k1',
      json: true,
      label: ['a=b'],
    });
  });

  it.each([
    ['', /no command given/, 'Usage: portfolio <command>'],
    ['frobnicate', /unknown command: frobnicate/, 'Usage: portfolio <command>'],
    ['models', /models: which one/, 'portfolio models list'],
    ['models drop x', /unknown command: models drop/, 'portfolio models get'],
    ['models get', /missing <id>/, 'Usage: portfolio models get <id>'],
    ['models get a b', /unexpected argument: b/, 'portfolio models get <id>'],
    ['models register m f.onnx', /--format is required/, '--format <format>'],
    ['models list --nope', /Unknown option '--nope'/, 'portfolio models list'],
    ['load m --copies', /--copies/, 'portfolio load <id>'],
    ['load m --alias x', /Unknown option '--alias'/, 'portfolio load <id>'],
    ['keys create ci', /--scopes is required/, 'portfolio keys create'],
    ['versions promote m', /missing <version>/, 'versions promote <id>'],
  ])('refuses "%s"', (line, message, usage) => {
    const error = usageError(line);
    expect(error.message).toMatch(message);
    expect(error.usage).toContain(usage);
  });

  it.each([
    ['--help', 'Usage: portfolio <command>'],
    ['-h', 'Usage: portfolio <command>'],
    ['help', 'Usage: portfolio <command>'],
    ['models --help', 'portfolio models register'],
    ['models register --help', 'Uploads <path>'],
    ['help keys create', 'portfolio keys create <name> --scopes <list>'],
    ['load m --bogus --help', 'portfolio load <id>'],
  ])('answers "%s" with help', (line, text) => {
    const parsed = parseCommandLine(line.split(' '));
    expect(parsed.kind).toBe('help');
    if (parsed.kind === 'help') {
      expect(parsed.text).toContain(text);
      expect(parsed.text).not.toContain('undefined');
    }
  });

  it('documents the exit codes in the help', () => {
    const help = parseCommandLine(['--help']);
    expect(help.kind === 'help' && help.text).toMatch(
      /Exit codes:\n {2}0 {2}ok\n {2}1 .*4xx.*\n {2}2 {2}usage.*\n {2}3 .*5xx/,
    );
  });
});
