// The console's entry: the header, and the view the address names.
//   #/                       the dashboard of the first app
//   #/apps/{appId}           the dashboard of an app
//   #/apps/{appId}/edge/{id} one instance in detail
// Signed out, every address shows the sign-in form first.

import * as api from './api.js';
import { h, replace } from './dom.js';
import { renderSignIn } from './signin.js';
import { renderDashboard } from './dashboard.js';
import { renderDetail } from './detail.js';

const main = document.getElementById('main');
const account = document.getElementById('account');
let stopView = null;
let context = null;

/** What every view needs once signed in: the group and the hub's version and wire port. */
async function loadContext() {
  if (!context) {
    const [groups, hub] = await Promise.all([api.call('GET', '/groups'), api.call('GET', '/hub')]);
    context = { groupId: groups[0].id, groupName: groups[0].name, hub };
  }
  return context;
}

function signOut() {
  api.signOut();
  context = null;
  window.location.hash = '#/';
  route();
}

function renderHeader() {
  if (!api.signedIn()) {
    replace(account);
    return;
  }
  replace(account, h('button', { type: 'button', class: 'ghost', onclick: signOut }, 'Sign out'));
}

async function route() {
  if (stopView) stopView();
  stopView = null;
  renderHeader();
  if (!api.signedIn()) {
    stopView = renderSignIn(main, () => route());
    return;
  }
  const hash = window.location.hash.startsWith('#/') ? window.location.hash.slice(2) : '';
  const parts = hash.split('/').filter(Boolean).map(decodeURIComponent);
  try {
    const ctx = await loadContext();
    if (parts[0] === 'apps' && parts[2] === 'edge' && parts[3]) {
      stopView = renderDetail(main, ctx, parts[1], parts[3]);
    } else {
      stopView = renderDashboard(main, ctx, parts[0] === 'apps' ? parts[1] : null);
    }
  } catch (error) {
    replace(main, h('p', { class: 'error', role: 'alert' }, `The hub answered: ${error.message}`));
  }
}

api.onSessionEnd(() => {
  context = null;
  route();
});
// Only addresses of views ("#/...") route; "#main" (the skip link) moves the focus only.
window.addEventListener('hashchange', () => {
  if (window.location.hash === '' || window.location.hash.startsWith('#/')) route();
});
route();
