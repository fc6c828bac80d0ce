import nx from '@nx/eslint-plugin';

/**
 * Module boundaries. Every project carries a type tag and a scope tag, and no
 * constraint uses '*':
 *   apps      -> feature libs and util libs of their own scope (the standalone
 *                app composes every service scope; apps never import apps)
 *   features  -> util libs only (one service's feature never imports another's)
 *   utils     -> utils
 *   testing   -> utils; only test files may import it
 *   tools     -> utils (tools/* projects: the cache simulator; never imported by apps or libs)
 *   ui        -> nothing (libs/console: the web console, bundled for the browser and
 *                served by the gateway; it talks to the server over HTTP only)
 */
const serviceScopes = [
  'gateway',
  'model-registry',
  'storage',
  'cache-manager',
  'runtime',
];

function constraints({ tests }) {
  const withTesting = (tags) => (tests ? [...tags, 'type:testing'] : tags);
  return [
    {
      sourceTag: 'type:app',
      onlyDependOnLibsWithTags: withTesting(['type:feature', 'type:util']),
    },
    {
      sourceTag: 'type:feature',
      onlyDependOnLibsWithTags: withTesting(['type:util']),
    },
    {
      sourceTag: 'type:util',
      onlyDependOnLibsWithTags: withTesting(['type:util']),
    },
    { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:util'] },
    {
      sourceTag: 'type:e2e',
      onlyDependOnLibsWithTags: ['type:testing', 'type:util'],
    },
    {
      sourceTag: 'type:tool',
      onlyDependOnLibsWithTags: withTesting(['type:util']),
    },
    { sourceTag: 'type:ui', onlyDependOnLibsWithTags: withTesting([]) },
    ...serviceScopes.map((scope) => ({
      sourceTag: `scope:${scope}`,
      onlyDependOnLibsWithTags: [`scope:${scope}`, 'scope:shared'],
    })),
    {
      sourceTag: 'scope:standalone',
      onlyDependOnLibsWithTags: [
        'scope:standalone',
        ...serviceScopes.map((s) => `scope:${s}`),
        'scope:shared',
      ],
    },
    { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
    { sourceTag: 'scope:e2e', onlyDependOnLibsWithTags: ['scope:shared'] },
    // The admin CLI talks to the server over HTTP only: shared libs, never a service.
    { sourceTag: 'scope:cli', onlyDependOnLibsWithTags: ['scope:shared'] },
    {
      sourceTag: 'scope:tools',
      onlyDependOnLibsWithTags: ['scope:tools', 'scope:shared'],
    },
  ];
}

const boundaries = (tests) => [
  'error',
  {
    enforceBuildableLibDependency: true,
    allow: [
      '^.*/eslint(\\.base)?\\.config\\.[cm]?[jt]s$',
      '^.*/tools/webpack/app\\.config$',
    ],
    depConstraints: constraints({ tests }),
  },
];

const testFiles = [
  '**/*.spec.ts',
  '**/*.integration-spec.ts',
  '**/*.e2e-spec.ts',
  // A library's own test helpers, imported only by its tests.
  '**/*.testing.ts',
];

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  {
    ignores: ['**/dist', '**/out-tsc', '**/node_modules'],
  },
  {
    files: ['**/*.ts', '**/*.js'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries(false),
      // Libraries have exactly one public entry point (src/index.ts).
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@portfolio/*/**'],
              message:
                'Import a library only from its entry point, e.g. @portfolio/contracts.',
            },
            { group: ['**/apps/**'], message: 'Apps are never imported.' },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: testFiles,
    rules: {
      '@nx/enforce-module-boundaries': boundaries(true),
    },
  },
];
