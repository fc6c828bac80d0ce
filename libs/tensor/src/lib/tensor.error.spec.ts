import { inputError, TensorError } from './tensor.error';

describe('TensorError', () => {
  it('is an Error with a fixed code and name', () => {
    const err = new TensorError('boom', 'x', { a: 1 });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('TensorError');
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.input).toBe('x');
    expect(err.details).toEqual({ a: 1 });
    expect(String(err)).toBe('TensorError: boom');
  });

  it('defaults to no input and empty details', () => {
    const err = new TensorError('boom');
    expect(err.input).toBeNull();
    expect(err.details).toEqual({});
  });

  it('quotes input names in messages', () => {
    const err = inputError('a "b"', 'bad');
    expect(err.message).toBe('input "a \\"b\\"": bad');
    expect(err.details).toEqual({ input: 'a "b"' });
  });
});
