// One instance in detail: its identity, status and versions, the instance query (edited and
// validated by the API), its metrics as cards and charts of the last hour, its logs (newest
// first, by page, filtered by level) and the actions. Refreshed by polling.

import * as api from './api.js';
import {
  h, replace, field, statusBadge, timeElement, exact, formatValue, lagText, lagLevel,
} from './dom.js';
import {
  lineChart, rateSeries, gaugeSeries, timeRange,
} from './chart.js';
import { parseQuery, showQueryError } from './add-server.js';
import * as actions from './actions.js';

const POLL_MS = 5000;
const LOGS_PER_PAGE = 20;
const CHARTS = [
  { id: 'chart-requests', title: 'Requests per minute', unit: 'count', rate: ['overall_request_success', 'overall_request_fail'] },
  { id: 'chart-connections', title: 'Connections', unit: 'count', gauge: ['edge_wire_protocol_connection_count'] },
  { id: 'chart-sync', title: 'Sync changes per minute', unit: 'count', rate: ['sync_changes_uploaded', 'sync_changes_downloaded'] },
  { id: 'chart-bytes', title: 'Bytes sent per minute', unit: 'bytes', rate: ['wire_protocol_egress_bytes'] },
  { id: 'chart-memory', title: 'Edge memory', unit: 'bytes', gauge: ['edge_process_memory_bytes'] },
];
const LEVELS = [['', 'All levels'], ['info', 'Info'], ['warn', 'Warning'], ['error', 'Error']];

export function renderDetail(root, ctx, appId, edgeId) {
  const appPath = `/groups/${ctx.groupId}/apps/${appId}`;
  const edgePath = `${appPath}/edge/${edgeId}`;
  const back = `#/apps/${appId}`;
  let stopped = false;
  let timer = null;
  let edge = null;
  let logSkip = 0;

  const title = h('h1', { tabindex: '-1' }, 'Edge server');
  const status = h('span', {});
  const overview = h('dl', { class: 'facts' });
  const cards = h('div', { class: 'cards' });
  const charts = h('div', { class: 'charts' });
  const reported = h('p', { class: 'muted' });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const query = queryEditor(edgePath, () => refresh());
  const logs = logsSection(appPath, edgeId);
  const button = (text, onclick, kind = 'secondary') => h('button', { type: 'button', class: kind, onclick }, text);
  const toolbar = h('div', { class: 'toolbar' },
    button('Rename', () => actions.rename(edgePath, edge, refresh), 'secondary action-rename'),
    button('Regenerate registration key', () => actions.regenerate(ctx, edgePath, edge, refresh),
      'secondary action-regenerate'),
    button('Delete', () => actions.remove(edgePath, edge, () => { window.location.hash = back; }),
      'danger action-delete'));

  replace(root,
    h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, h('a', { href: back }, '← Edge servers')),
    h('div', { class: 'page-head' }, h('div', { class: 'title-line' }, title, status), toolbar),
    error,
    h('section', { class: 'card', 'aria-labelledby': 'overview-title' },
      h('h2', { id: 'overview-title' }, 'Overview'), overview),
    h('section', { class: 'card', 'aria-labelledby': 'metrics-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'metrics-title' }, 'Metrics'), reported), cards),
    h('section', { class: 'card', 'aria-labelledby': 'charts-title' },
      h('h2', { id: 'charts-title' }, 'Last hour'), charts),
    query.section,
    logs.section);

  async function refresh() {
    clearTimeout(timer);
    try {
      const [detail, history] = await Promise.all([
        api.call('GET', edgePath),
        api.call('GET', `${edgePath}/metrics/history`),
      ]);
      if (stopped) return;
      edge = detail;
      title.textContent = detail.name;
      document.title = `${detail.name} · Outpost hub`;
      replace(status, statusBadge(detail.status, detail.status_reason));
      renderOverview(overview, detail);
      renderCards(cards, detail.metrics);
      renderCharts(charts, history);
      reported.textContent = detail.metrics_reported
        ? `Reported ${exact(detail.metrics_reported)}` : 'No report yet';
      query.show(detail);
      if (logSkip === 0) await logs.load();
      error.hidden = true;
    } catch (failure) {
      if (stopped) return;
      error.textContent = failure.status === 404
        ? 'This instance no longer exists.' : `Cannot refresh: ${failure.message}`;
      error.hidden = false;
    }
    if (!stopped) timer = setTimeout(refresh, POLL_MS);
  }
  logs.onPage((skip) => { logSkip = skip; });
  refresh().then(() => { if (!stopped) title.focus(); });
  return () => { stopped = true; clearTimeout(timer); document.title = 'Outpost hub console'; };
}

function renderOverview(list, edge) {
  const lag = h('span', { class: `lag lag-${lagLevel(edge.sync_lag)}` },
    h('span', { class: 'lag-dot', 'aria-hidden': 'true' }), lagText(edge.sync_lag));
  const status = [statusBadge(edge.status, edge.status_reason)];
  if (edge.status_reason) status.push(h('span', { class: 'reason' }, edge.status_reason));
  const rows = [
    ['ID', h('code', {}, edge.id)],
    ['User ID', h('code', {}, edge.user_id || '—')],
    ['Status', status],
    ['Created', timeElement(edge.created)],
    ['Last connection', timeElement(edge.last_connection)],
    ['Hostname', edge.hostname || '—'],
    ['Package version', edge.package_version || '—'],
    ['Latest version', edge.latest_package_version],
    ['Sync lag', lag],
  ];
  replace(list, rows.map(([term, value]) => h('div', { class: 'fact' }, h('dt', {}, term), h('dd', {}, value))));
}

function renderCards(container, metrics) {
  if (!metrics.length) {
    replace(container, h('p', { class: 'muted' }, 'The edge has not reported metrics yet (it reports every 10 s while connected).'));
    return;
  }
  replace(container, metrics.map((metric) => h('div', { class: `metric metric-${metric.category}`, title: metric.detail },
    h('span', { class: 'metric-name' }, metric.name),
    h('span', { class: 'metric-value' }, formatValue(metric.value, metric.unit)))));
}

function renderCharts(container, history) {
  const { from, to } = timeRange(history.points, history.window_seconds * 1000, Date.now());
  replace(container, CHARTS.map((chart) => lineChart({
    id: chart.id,
    title: chart.title,
    unit: chart.unit,
    series: chart.rate ? rateSeries(history.points, chart.rate) : gaugeSeries(history.points, chart.gauge),
    from,
    to,
  })));
}

/** The instance query: a JSON text area, saved with PUT .../query; refused queries show
 * where. The text is not replaced by a refresh while it is being edited. */
function queryEditor(edgePath, saved) {
  const area = h('textarea', { id: 'instance-query', rows: 4, spellcheck: 'false' });
  const version = h('span', { class: 'muted' });
  const error = h('div', { class: 'error', role: 'alert', hidden: true });
  const ok = h('p', { class: 'ok', role: 'status' });
  let dirty = false;
  area.addEventListener('input', () => { dirty = true; ok.textContent = ''; });
  const form = h('form', {
    onsubmit: async (event) => {
      event.preventDefault();
      error.hidden = true;
      let query;
      try {
        query = parseQuery(area.value);
        if (!query) throw new Error('The instance query cannot be empty: {"*": "TRUEPREDICATE"} syncs everything.');
      } catch (failure) {
        replace(error, failure.message);
        error.hidden = false;
        return;
      }
      try {
        const reply = await api.call('PUT', `${edgePath}/query`, { query });
        dirty = false;
        ok.textContent = `Saved: query version ${reply.query_version}. The edge applies it at its next download.`;
        saved();
      } catch (failure) {
        showQueryError(error, failure, query);
      }
    },
  },
  field('Instance query', area, 'Collections ("db.collection", "collection" or "*") mapped to RQL queries or filter documents.'),
  error,
  ok,
  h('div', { class: 'buttons start' }, h('button', { type: 'submit', class: 'primary' }, 'Save query'), version));
  return {
    section: h('section', { class: 'card query', 'aria-labelledby': 'query-title' },
      h('h2', { id: 'query-title' }, 'Instance query'), form),
    show(edge) {
      version.textContent = `Version ${edge.query_version}`;
      if (!dirty) area.value = JSON.stringify(edge.query, null, 2);
    },
  };
}

/** The instance's log records: newest first, a page at a time, filtered by level. */
function logsSection(appPath, edgeId) {
  const level = h('select', { id: 'log-level' }, LEVELS.map(([value, text]) => h('option', { value }, text)));
  const body = h('tbody');
  const newer = h('button', { type: 'button', class: 'secondary' }, 'Newer');
  const older = h('button', { type: 'button', class: 'secondary' }, 'Older');
  const page = h('span', { class: 'muted' });
  let skip = 0;
  let pageListener = () => {};
  async function load() {
    const params = new URLSearchParams({ edge_server_id: edgeId, skip: String(skip), limit: String(LOGS_PER_PAGE) });
    if (level.value) params.set('level', level.value);
    const reply = await api.call('GET', `${appPath}/logs?${params}`);
    renderLogs(body, reply.logs);
    newer.disabled = skip === 0;
    older.disabled = reply.next_skip === null;
    page.textContent = `Page ${skip / LOGS_PER_PAGE + 1}`;
  }
  const go = (next) => {
    skip = Math.max(0, next);
    pageListener(skip);
    load().catch((failure) => {
      replace(body, h('tr', {}, h('td', { colspan: 5, class: 'error' }, `Cannot load the logs: ${failure.message}`)));
    });
  };
  newer.addEventListener('click', () => go(skip - LOGS_PER_PAGE));
  older.addEventListener('click', () => go(skip + LOGS_PER_PAGE));
  level.addEventListener('change', () => go(0));
  const table = h('table', { class: 'logs' },
    h('caption', { class: 'visually-hidden' }, 'Log records, newest first'),
    h('thead', {}, h('tr', {}, ['Time', 'Level', 'Type', 'Message', 'User'].map((name) => h('th', { scope: 'col' }, name)))),
    body);
  return {
    section: h('section', { class: 'card', 'aria-labelledby': 'logs-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'logs-title' }, 'Logs'), field('Level', level)),
      h('div', { class: 'table-wrap' }, table),
      h('div', { class: 'buttons start pager' }, newer, older, page)),
    load,
    onPage(listener) { pageListener = listener; },
  };
}

function renderLogs(body, logs) {
  if (!logs.length) {
    replace(body, h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No log records.')));
    return;
  }
  replace(body, logs.map((log) => h('tr', { class: `log-${log.level}` },
    h('td', { 'data-label': 'Time' }, timeElement(log.time)),
    h('td', { 'data-label': 'Level' }, h('span', { class: `level level-${log.level}` }, log.level)),
    h('td', { 'data-label': 'Type' }, log.type),
    h('td', { 'data-label': 'Message', class: 'message' }, log.message),
    h('td', { 'data-label': 'User' }, log.user_id || '—'))));
}
