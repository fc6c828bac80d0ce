import { ENV_VARS } from '@portfolio/config';

import { checkAppEnv } from './app-env';
import { parseDockerfile, isNumericNonRoot } from './dockerfile';
import { interpolate, InterpolationError } from './interpolate';
import { containerEnv, schemaProblem, type Manifest } from './k8s';
import { parseDockerMemory, parseQuantity } from './sizes';

describe('interpolate (Compose)', () => {
  const env = { SET: 'value', EMPTY: '' };

  it('reads variables, defaults, required ones and $$', () => {
    expect(interpolate('a ${SET} $SET b', env)).toBe('a value value b');
    expect(interpolate('${MISSING:-d} ${EMPTY:-d} ${EMPTY-d}', env)).toBe(
      'd d ',
    );
    expect(interpolate('${SET:+alt}|${EMPTY:+alt}|${EMPTY+alt}', env)).toBe(
      'alt||alt',
    );
    expect(interpolate('$$HOME $${SET}', env)).toBe('$HOME ${SET}');
    expect(() => interpolate('${MISSING:?say why}', env)).toThrow(
      new InterpolationError('say why'),
    );
    expect(() => interpolate('${EMPTY:?empty}', env)).toThrow('empty');
    expect(interpolate('${EMPTY?unset only}', env)).toBe('');
  });

  it('records the names it read', () => {
    const used = new Set<string>();
    interpolate('${A:-1} $B $$C', {}, used);
    expect([...used].sort()).toEqual(['A', 'B']);
  });

  it('refuses what it cannot read', () => {
    expect(() => interpolate('${not valid}', {})).toThrow(InterpolationError);
  });
});

describe('parseDockerfile', () => {
  const df = parseDockerfile(
    [
      '# syntax=docker/dockerfile:1.7',
      'ARG V=1',
      'FROM node:20 AS base',
      'ENV A=1 \\',
      '    B="two words"',
      'RUN --mount=type=cache,target=/x mkdir -p /data \\',
      '# a comment inside the continuation',
      ' && chown node /data',
      'USER 1000:1000',
      'CMD ["node", "main.js"]',
      'FROM base AS app',
      'ENV A=2',
      'EXPOSE 8080',
      'HEALTHCHECK --interval=5s CMD ["node", "h.js"]',
    ].join('\n'),
  );

  it('merges a target with the stages it inherits from', () => {
    const app = df.image('app');
    expect(app.env).toEqual({ A: '2', B: 'two words' });
    expect(app.user).toBe('1000:1000');
    expect(app.cmd).toEqual(['node', 'main.js']);
    expect(app.expose).toEqual(['8080']);
    expect(app.healthcheck).toEqual(['node', 'h.js']);
    expect(app.run).toEqual(['mkdir -p /data && chown node /data']);
    expect(app.from).toBe('node:20');
  });

  it('refuses an unknown target', () => {
    expect(() => df.image('nope')).toThrow('no stage named nope');
  });

  it('tells numeric non-root users', () => {
    expect(isNumericNonRoot('1000:1000')).toBe(true);
    expect(isNumericNonRoot('1000')).toBe(true);
    expect(isNumericNonRoot('node')).toBe(false);
    expect(isNumericNonRoot('0')).toBe(false);
    expect(isNumericNonRoot('1000:0')).toBe(false);
    expect(isNumericNonRoot(null)).toBe(false);
  });
});

describe('sizes', () => {
  it("reads Docker's binary memory units", () => {
    expect(parseDockerMemory('3G')).toBe(3 * 1024 ** 3);
    expect(parseDockerMemory('512m')).toBe(512 * 1024 ** 2);
    expect(parseDockerMemory('1gb')).toBe(1024 ** 3);
    expect(parseDockerMemory(1000)).toBe(1000);
    expect(() => parseDockerMemory('3GiB')).toThrow('not a Docker memory size');
  });

  it('reads Kubernetes quantities', () => {
    expect(parseQuantity('3Gi')).toBe(3 * 1024 ** 3);
    expect(parseQuantity('3G')).toBe(3e9);
    expect(parseQuantity('250m')).toBeCloseTo(0.25);
    expect(parseQuantity('1')).toBe(1);
    expect(() => parseQuantity('3 GiB')).toThrow('not a Kubernetes quantity');
  });
});

function manifest(object: Record<string, unknown>): Manifest {
  const metadata = object['metadata'] as { name: string };
  return {
    file: 'test.yaml',
    apiVersion: String(object['apiVersion']),
    kind: String(object['kind']),
    name: metadata.name,
    object,
  };
}

describe('schemaProblem (kubernetes-models)', () => {
  const pod = (container: Record<string, unknown>) => ({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'x' },
    spec: {
      serviceName: 'x',
      selector: { matchLabels: { a: 'b' } },
      template: {
        metadata: { labels: { a: 'b' } },
        spec: { containers: [container] },
      },
    },
  });

  it('accepts a valid object', () => {
    expect(schemaProblem(manifest(pod({ name: 'c', image: 'i' })))).toBeNull();
  });

  it('reports what the schema refuses', () => {
    expect(
      schemaProblem(
        manifest(
          pod({ name: 'c', image: 'i', ports: [{ containerPort: 'http' }] }),
        ),
      ),
    ).toMatch(/containerPort must be integer/);
    expect(
      schemaProblem(
        manifest({
          apiVersion: 'autoscaling/v2',
          kind: 'HorizontalPodAutoscaler',
          metadata: { name: 'h' },
          spec: { maxReplicas: 3 },
        }),
      ),
    ).toMatch(/scaleTargetRef/);
  });

  it('refuses kinds it has no schema for', () => {
    expect(
      schemaProblem(
        manifest({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } }),
      ),
    ).toMatch(/not a kind these checks validate/);
  });
});

describe('containerEnv', () => {
  const objects = [
    manifest({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cm' },
      data: { A: 'from-cm', B: 'b' },
    }),
    manifest({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      data: { key: Buffer.from('secret').toString('base64') },
      stringData: { other: 'plain' },
    }),
  ];

  it('builds the environment as Kubernetes does', () => {
    const { env, problems } = containerEnv(
      {
        name: 'c',
        envFrom: [{ configMapRef: { name: 'cm' } }],
        env: [
          { name: 'A', value: 'own' },
          {
            name: 'POD',
            valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
          },
          { name: 'REF', value: 'id=$(POD) $$(POD) $(B)' },
          { name: 'S', valueFrom: { secretKeyRef: { name: 's', key: 'key' } } },
          {
            name: 'T',
            valueFrom: { secretKeyRef: { name: 's', key: 'other' } },
          },
        ],
      },
      'runtime-0',
      'ns',
      objects,
    );
    expect(problems).toEqual([]);
    expect(env).toEqual({
      A: 'own',
      B: 'b',
      POD: 'runtime-0',
      REF: 'id=runtime-0 $(POD) b',
      S: 'secret',
      T: 'plain',
    });
  });

  it('reports what would keep the pod from starting', () => {
    const { problems } = containerEnv(
      {
        name: 'c',
        envFrom: [{ configMapRef: { name: 'missing' } }],
        env: [
          {
            name: 'X',
            valueFrom: { secretKeyRef: { name: 's', key: 'nope' } },
          },
          { name: 'Y', value: '$(LATER)' },
          { name: 'LATER', value: '1' },
        ],
      },
      'p',
      'ns',
      objects,
    );
    expect(problems).toEqual([
      'ConfigMap missing is not in the manifests',
      'X: Secret s has no key nope',
      'Y refers to $(LATER), which is not defined before it',
    ]);
  });
});

describe('checkAppEnv', () => {
  const base = {
    NODE_ENV: 'production',
    PORTFOLIO_DATA_DIR: '/data',
    PORTFOLIO_NATS_URL: 'nats://nats:4222',
    OTEL_SERVICE_NAME: 'cache-manager',
  };

  it('passes an environment the app would start with', () => {
    const { config, problems } = checkAppEnv('cache-manager', base, 'here');
    expect(problems).toEqual([]);
    expect(config?.nats.url).toBe('nats://nats:4222');
  });

  it('names unknown variables, refused settings and missing needs', () => {
    const { problems } = checkAppEnv(
      'runtime',
      {
        ...base,
        OTEL_SERVICE_NAME: 'runtime',
        PORTFOLIO_RUNTIME_MAX_MEMROY: '2GiB',
        FOO: '1',
        PORTFOLIO_STORAGE_DRIVER: 's3',
      },
      'here',
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'here: PORTFOLIO_RUNTIME_MAX_MEMROY is not a variable the apps read (libs/config ENV_VARS)',
        'here: FOO is read by no Portfolio app',
        expect.stringMatching(/^here: the runtime would refuse to start: /),
      ]),
    );
  });

  it('knows every variable of the config library', () => {
    // The list the checks use is libs/config's own: one added there is known here.
    const names = ENV_VARS.map((v) => v.name);
    expect(names).toContain('PORTFOLIO_RUNTIME_MAX_MEMORY');
    const { problems } = checkAppEnv(
      'cache-manager',
      { ...base, ...Object.fromEntries(names.map((n) => [n, ''])) },
      'here',
    );
    expect(problems.filter((p) => p.includes('not a variable'))).toEqual([]);
  });
});
