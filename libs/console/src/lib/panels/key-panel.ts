import { el } from '../dom';

/**
 * The form that asks for an API key, shown when the server has auth on and this tab
 * holds no key (or one the server refused). The key goes to sessionStorage: this tab
 * only, gone when it closes.
 */
export function keyForm(
  onKey: (key: string) => void,
  problem?: string,
): HTMLElement {
  const input = el('input', {
    attrs: {
      type: 'password',
      name: 'key',
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'pf_… or the bootstrap admin key',
      'aria-label': 'API key',
      required: '',
    },
  });
  const form = el('form', { class: 'key-form', attrs: { id: 'key-form' } }, [
    el('h2', { text: 'API key' }),
    el('p', {
      text: 'This server needs an API key. A key with the read scope shows the console; an admin key can also load, unload and promote models.',
    }),
    problem ? el('p', { class: 'error', text: problem }) : null,
    el('div', { class: 'key-row' }, [
      input,
      el('button', { text: 'Use key', attrs: { type: 'submit' } }),
    ]),
    el('p', {
      class: 'muted small',
      text: 'Kept in this tab only (sessionStorage) and sent as Authorization: Bearer.',
    }),
  ]);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (key) onKey(key);
  });
  queueMicrotask(() => input.focus());
  return form;
}
