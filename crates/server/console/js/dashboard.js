// The dashboard: the group's apps, and for the selected app a table of its edge instances
// (name, status, last connection, hostname, version, sync lag) refreshed by polling the API,
// with a summary of how many are active, pending, failed and behind.

import * as api from './api.js';
import {
  h, replace, field, statusBadge, timeElement, lagText, lagLevel,
} from './dom.js';
import { openAddServer } from './add-server.js';

/** How often the table asks the hub again. */
const POLL_MS = 3000;
const COLUMNS = ['Name', 'Status', 'Last connection', 'Hostname', 'Version', 'Sync lag'];

export function renderDashboard(root, ctx, appId) {
  let stopped = false;
  let timer = null;
  const groupPath = `/groups/${ctx.groupId}`;

  async function start() {
    const apps = await api.call('GET', `${groupPath}/apps`);
    if (stopped) return;
    if (apps.length === 0) {
      renderCreateApp(root, groupPath, (app) => { window.location.hash = `#/apps/${app._id}`; });
      return;
    }
    const app = apps.find((candidate) => candidate._id === appId) || apps[0];
    renderApp(apps, app);
  }

  function renderApp(apps, app) {
    const appPath = `${groupPath}/apps/${app._id}`;
    const select = h('select', { id: 'app-select', onchange: () => { window.location.hash = `#/apps/${select.value}`; } },
      apps.map((candidate) => h('option', { value: candidate._id, selected: candidate._id === app._id },
        candidate.name)));
    const add = h('button', { type: 'button', class: 'primary', onclick: () => openAddServer(ctx, appPath, refresh) },
      'Add a server');
    const summary = h('ul', { class: 'summary', 'aria-label': 'Instances by status' });
    const body = h('tbody');
    const updated = h('p', { class: 'muted updated', 'aria-live': 'off' });
    const error = h('p', { class: 'error', role: 'alert', hidden: true });
    const table = h('table', { class: 'edges' },
      h('caption', { class: 'visually-hidden' }, `Edge server instances of ${app.name}`),
      h('thead', {}, h('tr', {}, COLUMNS.map((name) => h('th', { scope: 'col' }, name)))),
      body);
    replace(root,
      h('div', { class: 'page-head' },
        h('div', {},
          h('h1', { tabindex: '-1' }, 'Edge servers'),
          h('p', { class: 'muted' }, `${ctx.groupName} group · database `, h('code', {}, app.database))),
        h('div', { class: 'toolbar' }, field('App', select), add)),
      summary,
      error,
      h('div', { class: 'table-wrap' }, table),
      updated);

    async function refresh() {
      clearTimeout(timer);
      try {
        const listing = await api.call('GET', `${appPath}/edge`);
        if (stopped) return;
        renderRows(body, app, listing.edge_servers, ctx.hub.version);
        renderSummary(summary, listing.edge_servers);
        error.hidden = true;
        updated.textContent = `Updated ${new Date().toLocaleTimeString()} · refreshes every ${POLL_MS / 1000} s`;
      } catch (failure) {
        if (stopped) return;
        error.textContent = `Cannot refresh: ${failure.message}`;
        error.hidden = false;
      }
      if (!stopped) timer = setTimeout(refresh, POLL_MS);
    }
    refresh();
  }

  start().catch((failure) => {
    replace(root, h('p', { class: 'error', role: 'alert' }, `The hub answered: ${failure.message}`));
  });
  return () => { stopped = true; clearTimeout(timer); };
}

function renderSummary(list, edges) {
  const count = (test) => edges.filter(test).length;
  const items = [
    ['Active', count((e) => e.status === 'active'), 'active'],
    ['Pending', count((e) => e.status === 'pending'), 'pending'],
    ['Failed', count((e) => e.status === 'failed'), 'failed'],
    ['Behind', count((e) => ['behind', 'late'].includes(lagLevel(e.sync_lag))), 'behind'],
  ];
  replace(list, items.map(([label, n, kind]) => h('li', { class: `tile tile-${kind}` },
    h('span', { class: 'tile-value' }, String(n)), h('span', { class: 'tile-label' }, label))));
}

function renderRows(body, app, edges, latest) {
  // Keep the keyboard focus on the same link across a refresh.
  const focused = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.edgeId : null;
  if (edges.length === 0) {
    replace(body, h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'empty' },
      'No edge servers yet: "Add a server" gives one its registration key.')));
    return;
  }
  replace(body, edges.map((edge) => {
    const link = h('a', { href: `#/apps/${app._id}/edge/${edge.id}`, 'data-edge-id': edge.id }, edge.name);
    const version = edge.package_version
      ? [edge.package_version, edge.package_version !== latest
        ? h('span', { class: 'tag', title: `The hub runs ${latest}` }, 'update') : null]
      : h('span', { class: 'muted' }, '—');
    const level = lagLevel(edge.sync_lag);
    return h('tr', { 'data-edge-id': edge.id, 'data-status': edge.status },
      h('th', { scope: 'row', 'data-label': 'Name' }, link),
      h('td', { 'data-label': 'Status' }, statusBadge(edge.status, edge.status_reason),
        edge.status_reason ? h('span', { class: 'visually-hidden' }, `: ${edge.status_reason}`) : null),
      h('td', { 'data-label': 'Last connection' }, timeElement(edge.last_connection)),
      h('td', { 'data-label': 'Hostname' }, edge.hostname || h('span', { class: 'muted' }, '—')),
      h('td', { 'data-label': 'Version' }, version),
      h('td', { 'data-label': 'Sync lag' },
        h('span', { class: `lag lag-${level}` }, h('span', { class: 'lag-dot', 'aria-hidden': 'true' }),
          lagText(edge.sync_lag))));
  }));
  if (focused) {
    const again = body.querySelector(`a[data-edge-id="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
}

/** A group without apps: a form to create the first one. */
function renderCreateApp(root, groupPath, created) {
  const name = h('input', { id: 'app-name', required: true, value: 'edge', pattern: '[A-Za-z][A-Za-z0-9_-]*' });
  const database = h('input', { id: 'app-database', required: true, value: 'edge' });
  const service = h('select', { id: 'app-service' },
    h('option', { value: 'edge_server' }, 'Edge Server (MongoDB drivers)'),
    h('option', { value: 'device_sync' }, 'Device Sync (with Edge Server)'));
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const form = h('form', {
    class: 'card narrow',
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        const app = await api.call('POST', `${groupPath}/apps`,
          { name: name.value.trim(), database: database.value.trim(), service_type: service.value });
        created(app);
      } catch (failure) {
        error.textContent = failure.message;
        error.hidden = false;
      }
    },
  },
  h('h1', { tabindex: '-1' }, 'Create an app'),
  h('p', { class: 'muted' }, 'Edge servers belong to an app. This group has none yet.'),
  field('App name', name, 'A letter, then letters, digits, "_" and "-".'),
  field('Database', database, 'The database bare collection names in queries refer to.'),
  field('Service type', service),
  error,
  h('button', { type: 'submit', class: 'primary' }, 'Create app'));
  replace(root, form);
}
