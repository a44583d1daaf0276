// An instance's actions, each confirmed in a dialog: "Rename", "Regenerate registration key"
// (the running edge fails until it gets the new key) and "Delete" (typing the name).

import * as api from './api.js';
import { h, replace, field, dialog } from './dom.js';
import { keyPanel } from './add-server.js';

function buttons(...children) {
  return h('div', { class: 'buttons' }, children);
}

function errorLine() {
  return h('p', { class: 'error', role: 'alert', hidden: true });
}

function fail(error, failure) {
  error.textContent = failure.message;
  error.hidden = false;
}

export function rename(edgePath, edge, done) {
  dialog(`Rename ${edge.name}`, (element, close) => {
    const name = h('input', { id: 'new-name', required: true, maxlength: 256, value: edge.name, autocomplete: 'off' });
    const error = errorLine();
    element.append(h('form', {
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          await api.call('POST', `${edgePath}/rename`, { name: name.value.trim() });
          close();
          done();
        } catch (failure) {
          fail(error, failure);
        }
      },
    },
    field('New name', name),
    error,
    buttons(h('button', { type: 'button', class: 'ghost', onclick: close }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary' }, 'Rename'))));
    name.select();
  });
}

export function regenerate(ctx, edgePath, edge, done) {
  dialog('Regenerate registration key', (element, close) => {
    const error = errorLine();
    const confirm = h('button', { type: 'button', class: 'danger' }, 'Regenerate key');
    const body = h('div', {},
      h('p', {}, 'A new one-time registration key for ', h('strong', {}, edge.name), '.'),
      h('p', { class: 'warning' }, 'The running edge will fail until it gets the new key: its API key '
        + 'stops working at once. Restart the edge with the new key; it keeps its data.'),
      error,
      buttons(h('button', { type: 'button', class: 'ghost', onclick: close }, 'Cancel'), confirm));
    confirm.addEventListener('click', async () => {
      confirm.disabled = true;
      try {
        const reply = await api.call('POST', `${edgePath}/regenerate-registration-key`);
        replace(body, keyPanel(ctx, reply.registration_key),
          buttons(h('button', { type: 'button', class: 'primary', onclick: close }, 'Done')));
        done();
      } catch (failure) {
        confirm.disabled = false;
        fail(error, failure);
      }
    });
    element.append(body);
    confirm.focus();
  });
}

export function remove(edgePath, edge, done) {
  dialog(`Delete ${edge.name}`, (element, close) => {
    const typed = h('input', { id: 'confirm-name', autocomplete: 'off', spellcheck: 'false' });
    const confirm = h('button', { type: 'submit', class: 'danger', disabled: true }, 'Delete');
    typed.addEventListener('input', () => { confirm.disabled = typed.value !== edge.name; });
    const error = errorLine();
    element.append(h('form', {
      onsubmit: async (event) => {
        event.preventDefault();
        if (typed.value !== edge.name) return;
        try {
          await api.call('DELETE', edgePath);
          close();
          done();
        } catch (failure) {
          fail(error, failure);
        }
      },
    },
    h('p', {}, 'The instance\'s API key stops working at once: the edge stops syncing and keeps '
      + 'serving its local data. This cannot be undone.'),
    field(`Type "${edge.name}" to confirm`, typed),
    error,
    buttons(h('button', { type: 'button', class: 'ghost', onclick: close }, 'Cancel'), confirm)));
    typed.focus();
  });
}
