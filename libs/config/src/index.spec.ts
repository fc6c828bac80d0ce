import * as api from './index';

describe('public entry point', () => {
  it('exports exactly the public runtime API', () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        'ConfigError',
        'ENV_VARS',
        'MODEL_FORMATS',
        'formatBytes',
        'loadConfig',
        'parseDuration',
        'parseSize',
      ].sort(),
    );
  });

  it('lists the model formats in order', () => {
    expect(api.MODEL_FORMATS).toEqual([
      'onnx',
      'tensorflow',
      'pytorch',
      'sklearn',
      'huggingface',
      'custom',
    ]);
  });
});
