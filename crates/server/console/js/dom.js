// DOM helpers and the formatting the views share. Elements are built from data with
// text nodes and attributes, never innerHTML, so nothing the API answers can become markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') element.setAttribute('class', value);
    else if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

/** An HTML element: `h('a', {href: '#/'}, 'text', child...)`. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Replaces an element's children. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

/** A labelled form field: the label names the control (its accessible name). */
export function field(label, control, hint) {
  const hintElement = hint ? h('p', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  if (hintElement) control.setAttribute('aria-describedby', hintElement.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintElement);
}

/** A modal `<dialog>` titled `title`; `build(dialog, close)` fills it. Removed when closed. */
export function dialog(title, fill) {
  const id = `dialog-${Math.random().toString(36).slice(2)}`;
  const element = h('dialog', { class: 'dialog', 'aria-labelledby': id });
  const close = () => element.close();
  element.addEventListener('close', () => element.remove());
  element.append(h('h2', { id }, title));
  fill(element, close);
  document.body.append(element);
  element.showModal();
  return element;
}

/** Copies `text` to the clipboard (the Clipboard API where the page is a secure context,
 * else a selected hidden text area), then says so on `button` for a moment. */
export async function copy(text, button) {
  let done = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      done = true;
    }
  } catch (_) {
    done = false;
  }
  if (!done) {
    const area = h('textarea', { class: 'offscreen', readonly: true, 'aria-hidden': 'true' });
    area.value = text;
    document.body.append(area);
    area.select();
    done = document.execCommand('copy');
    area.remove();
  }
  const label = button.textContent;
  button.textContent = done ? 'Copied' : 'Select and copy it by hand';
  setTimeout(() => { button.textContent = label; }, 2000);
}

const STATUS = { active: 'Active', pending: 'Pending', failed: 'Failed' };

/** An instance's status as text (a colour only adds to it); the reason on hover. */
export function statusBadge(status, reason) {
  const label = STATUS[status] || status;
  return h('span', { class: `status status-${status}`, title: reason || null }, label);
}

/** "3 min ago", "just now", "never". */
export function relative(iso, now = Date.now()) {
  if (!iso) return 'never';
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} days ago`;
}

/** The exact local time of an RFC 3339 date. */
export function exact(iso) {
  if (!iso) return 'never';
  return new Date(iso).toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
  });
}

/** A `<time>` showing the relative time, the exact one on hover. */
export function timeElement(iso) {
  if (!iso) return h('span', { class: 'muted' }, 'Never');
  return h('time', { datetime: iso, title: exact(iso) }, relative(iso));
}

/** A duration in seconds as "4 s", "3 min", "2 h". */
export function duration(seconds) {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** A number with its unit, shortened: "1.2 MB", "37.5 %", "1,204". */
export function formatValue(value, unit) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  if (unit === 'bytes') {
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let v = value;
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
  }
  if (unit === 'percent') return `${value.toFixed(1)} %`;
  const digits = Number.isInteger(value) || Math.abs(value) >= 100 ? 0 : 1;
  return value.toLocaleString(undefined, { maximumFractionDigits: digits });
}

/** An instance's sync lag in words: "Up to date", "12 changes · 40 s behind". */
export function lagText(lag) {
  if (!lag) return 'Not registered';
  const parts = [];
  if (lag.changes > 0) {
    parts.push(`${lag.changes} ${lag.changes === 1 ? 'change' : 'changes'} · ${duration(lag.seconds)} behind`);
  }
  if (lag.upload_backlog > 0) parts.push(`${lag.upload_backlog} to upload`);
  return parts.length ? parts.join(' · ') : 'Up to date';
}

/** How bad a lag is: `ok`, `behind` (over 10 s or anything to upload), `late` (over 5 min). */
export function lagLevel(lag) {
  if (!lag) return 'none';
  if (lag.seconds > 300) return 'late';
  if ((lag.changes > 0 && lag.seconds > 10) || lag.upload_backlog > 0) return 'behind';
  return 'ok';
}
