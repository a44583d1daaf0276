// The sign-in form: an API key pair ("Public key", "Private key"). The private key goes to
// the login request and nowhere else; the field is emptied once signed in.

import * as api from './api.js';
import { h, replace, field } from './dom.js';

export function renderSignIn(root, signedIn) {
  const publicKey = h('input', {
    id: 'public-key', name: 'public-key', autocomplete: 'username', required: true,
    spellcheck: 'false', autocapitalize: 'none',
  });
  const privateKey = h('input', {
    id: 'private-key', name: 'private-key', type: 'password', autocomplete: 'off', required: true,
  });
  const error = h('p', { class: 'error', role: 'alert', id: 'signin-error', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary wide' }, 'Sign in');

  async function submit(event) {
    event.preventDefault();
    error.hidden = true;
    button.disabled = true;
    button.textContent = 'Signing in…';
    try {
      await api.signIn(publicKey.value.trim(), privateKey.value);
      privateKey.value = '';
      signedIn();
    } catch (failure) {
      error.textContent = failure.status === 401
        ? 'Sign-in failed: no API key has this public and private key.'
        : `Sign-in failed: ${failure.message}`;
      error.hidden = false;
      privateKey.focus();
      privateKey.select();
    } finally {
      button.disabled = false;
      button.textContent = 'Sign in';
    }
  }

  const form = h('form', { class: 'card signin', 'aria-labelledby': 'signin-title', onsubmit: submit },
    h('h1', { id: 'signin-title' }, 'Sign in to the hub'),
    h('p', { class: 'muted' }, 'Use an API key pair made with ',
      h('code', {}, 'outpost hub apikey create'), '.'),
    field('Public key', publicKey),
    field('Private key', privateKey, 'Used to sign in, never stored by the console.'),
    error,
    button);
  replace(root, h('div', { class: 'signin-page' }, form));
  publicKey.focus();
  return () => {};
}
