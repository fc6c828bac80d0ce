import baseConfig from '../../eslint.config.mjs';

/**
 * The web console runs in the browser on data from the server (model ids, reasons,
 * alias names): its DOM is built with textContent and attributes, never parsed from
 * strings, so nothing it shows can become markup or script.
 */
const HTML_SINKS = [
  {
    selector: 'MemberExpression[property.name=/^(innerHTML|outerHTML)$/]',
    message:
      'Build the DOM with el()/textContent (libs/console/src/lib/dom.ts), never from HTML strings.',
  },
  {
    selector: "CallExpression[callee.property.name='insertAdjacentHTML']",
    message: 'Build the DOM with el()/textContent, never from HTML strings.',
  },
  {
    selector:
      "CallExpression[callee.object.name='document'][callee.property.name=/^write(ln)?$/]",
    message: 'Build the DOM with el()/textContent, never from HTML strings.',
  },
  {
    selector:
      "CallExpression[callee.name=/^(eval|Function)$/], NewExpression[callee.name='Function']",
    message:
      'No code from strings (the Content-Security-Policy forbids it too).',
  },
];

export default [
  ...baseConfig,
  {
    files: ['**/*.ts'],
    rules: { 'no-restricted-syntax': ['error', ...HTML_SINKS] },
  },
];
