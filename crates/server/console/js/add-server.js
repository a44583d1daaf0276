// "Add a server": a name and an optional instance query make an instance; its one-time
// registration key is shown once, in the command that starts the edge, with a copy button.
// Also the key panel of "Regenerate registration key" and the instance query's errors.

import * as api from './api.js';
import { h, replace, field, dialog, copy } from './dom.js';

/** The command that starts an edge with `key` against this hub. */
export function startCommand(ctx, key) {
  const tls = ctx.hub.tls ? '/?tls=true' : '';
  const host = window.location.hostname || '127.0.0.1';
  return `outpost serve --hub mongodb://${host}:${ctx.hub.wire_port}${tls} --registration-key ${key}`;
}

/** The registration key and the command, with a copy button (shown once). */
export function keyPanel(ctx, key) {
  const command = startCommand(ctx, key);
  const copyButton = h('button', { type: 'button', class: 'secondary', 'aria-label': 'Copy the command' }, 'Copy');
  copyButton.addEventListener('click', () => copy(command, copyButton));
  return h('div', { class: 'key-panel' },
    h('p', { class: 'notice' }, 'This registration key is shown only once. Keep it until the edge has registered.'),
    h('div', { class: 'field' }, h('span', { class: 'label', id: 'registration-key-label' }, 'Registration key'),
      h('code', { class: 'key', id: 'registration-key', 'aria-labelledby': 'registration-key-label' }, key)),
    h('div', { class: 'field' }, h('span', { class: 'label', id: 'start-command-label' }, 'Command to start the edge'),
      h('div', { class: 'command' },
        h('pre', { id: 'start-command', 'aria-labelledby': 'start-command-label' }, h('code', {}, command)),
        copyButton)));
}

/** Parses the query text of a form: empty is "no query" (`undefined`). */
export function parseQuery(text) {
  if (!text.trim()) return undefined;
  let query;
  try {
    query = JSON.parse(text);
  } catch (error) {
    throw new Error(`The query is not valid JSON: ${error.message}`);
  }
  if (query === null || typeof query !== 'object' || Array.isArray(query)) {
    throw new Error('The query must be a JSON object: {"collection": "RQL query", ...}');
  }
  return query;
}

/** Shows why the API refused a query: its message, and where in which collection's query. */
export function showQueryError(element, failure, query) {
  const children = [h('span', {}, failure.message)];
  const text = query && failure.queryKey !== undefined ? query[failure.queryKey] : undefined;
  if (typeof text === 'string' && Number.isInteger(failure.queryPosition)) {
    const position = failure.queryPosition;
    children.push(h('span', { class: 'where' },
      `In the query for "${failure.queryKey}", at position ${position}:`));
    children.push(h('pre', { class: 'caret', 'aria-hidden': 'true' },
      `${text}\n${' '.repeat(Math.min(position, text.length))}^`));
  }
  replace(element, children);
  element.hidden = false;
}

export function openAddServer(ctx, appPath, added) {
  dialog('Add a server', (element, close) => {
    const name = h('input', { id: 'server-name', required: true, maxlength: 256, autocomplete: 'off' });
    const query = h('textarea', {
      id: 'server-query', rows: 3, spellcheck: 'false',
      placeholder: '{"orders": "storeId == 7"}',
    });
    const error = h('div', { class: 'error', role: 'alert', hidden: true });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Create');
    const cancel = h('button', { type: 'button', class: 'ghost', onclick: close }, 'Cancel');
    const form = h('form', {
      onsubmit: async (event) => {
        event.preventDefault();
        error.hidden = true;
        let parsed;
        try {
          parsed = parseQuery(query.value);
        } catch (failure) {
          replace(error, failure.message);
          error.hidden = false;
          return;
        }
        submit.disabled = true;
        try {
          const body = { name: name.value.trim() };
          if (parsed) body.query = parsed;
          const created = await api.call('POST', `${appPath}/edge`, body);
          added();
          replace(form,
            keyPanel(ctx, created.registration_key),
            h('div', { class: 'buttons' }, h('button', { type: 'button', class: 'primary', onclick: close }, 'Done')));
        } catch (failure) {
          showQueryError(error, failure, parsed);
          submit.disabled = false;
        }
      },
    },
    field('Name', name, 'The instance\'s name in this app, for example the store it runs in.'),
    field('Query', query, 'Optional: what the edge syncs, collections mapped to RQL queries (JSON). '
      + 'Empty: everything ({"*": "TRUEPREDICATE"}).'),
    error,
    h('div', { class: 'buttons' }, cancel, submit));
    element.append(form);
    name.focus();
  });
}
