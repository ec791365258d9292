// Small DOM and formatting helpers shared by the views.
import { act, loggedIn } from './api.js';

// h('td', {class: 'x', dataset: {id}}, child...) -> element
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el, ...children) { el.replaceChildren(); append(el, children); return el; }

export function badge(state, text) {
  return h('span', { class: 'badge state-' + String(state || 'unknown').toLowerCase() }, text ?? state);
}

export function shortId(id) { return (id || '').slice(0, 12); }

export function bytes(n) {
  if (!n && n !== 0) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + units[i];
}

export function ago(iso) {
  const t = Date.parse(iso);
  if (!t || t < 0) return '';
  const s = Math.max(0, (Date.now() - t) / 1000);
  if (s < 60) return Math.round(s) + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' d ago';
}

// A colour per service, stable across pages (Visualizer colours tasks by service).
export function colour(key) {
  let x = 0;
  for (const c of key || '') x = (x * 31 + c.charCodeAt(0)) >>> 0;
  return `hsl(${(Math.imul(x, 2654435761) >>> 0) % 360} 62% 46%)`;
}

export function toast(message, bad = false) {
  const el = h('div', { class: 'toast' + (bad ? ' bad' : ''), role: 'status' }, message);
  document.getElementById('toasts').append(el);
  setTimeout(() => el.remove(), bad ? 8000 : 4000);
}

// Ask before acting: resolves to the dialog's form values, or null when cancelled.
export function confirmDialog(title, ...body) {
  const dialog = document.getElementById('confirm');
  replace(document.getElementById('confirm-title'), title);
  replace(document.getElementById('confirm-body'), ...body);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      if (dialog.returnValue !== 'ok') return resolve(null);
      const values = {};
      for (const input of dialog.querySelectorAll('#confirm-body [name]')) values[input.name] = input.value;
      resolve(values);
    }, { once: true });
    dialog.returnValue = '';
    dialog.showModal();
  });
}

// A button that confirms, then runs `run(values)`; disabled for readers without a login.
export function actionButton(label, title, body, run, cls = 'small') {
  const button = h('button', { class: cls, type: 'button', dataset: { action: label.toLowerCase() } }, label);
  if (!loggedIn()) {
    button.disabled = true;
    button.title = 'log in to act';
    return button;
  }
  button.addEventListener('click', async () => {
    const values = await confirmDialog(title, ...(typeof body === 'function' ? body() : body));
    if (values === null) return;
    button.disabled = true;
    try {
      await run(values);
      toast(`${title}: done`);
    } catch (err) {
      toast(`${title}: ${err.message}`, true);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

export { act };

export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function table(headers, rows, attrs = {}) {
  return h('table', attrs, h('thead', {}, h('tr', {}, headers.map((t) => h('th', {}, t)))),
    h('tbody', {}, rows));
}

export function ports(list) {
  return (list || []).map((p) => {
    const published = p.PublishedPort ?? p.PublicPort;
    const target = p.TargetPort ?? p.PrivatePort;
    const proto = (p.Protocol ?? p.Type ?? 'tcp');
    return published ? `${published}→${target}/${proto}` : `${target}/${proto}`;
  }).join(', ');
}

// Table rows kept by object ID and sorted by `key(tr)`: what the listing views share.
export class KeyedRows {
  constructor(headers, key) {
    this.rows = new Map();
    this.key = key;
    this.body = h('tbody');
    this.table = table(headers, []);
    this.table.tBodies[0].replaceWith(this.body);
  }

  // The row of `id` (made if new), filled by `fill(tr)`, placed in order.
  put(id, fill) {
    let tr = this.rows.get(id);
    if (!tr) { tr = h('tr'); this.rows.set(id, tr); }
    fill(tr);
    if (!tr.isConnected) this.body.append(tr);
    return tr;
  }

  // Every object of `list` (its ID by `idOf`, its row by `fill(object)`), then sorted.
  putAll(list, idOf, fill) {
    for (const o of list) this.put(idOf(o), fill(o));
    this.sort();
  }

  drop(id) { this.rows.get(id)?.remove(); this.rows.delete(id); }

  sort() {
    const sorted = [...this.rows.values()].sort((a, b) => this.key(a).localeCompare(this.key(b)));
    sorted.forEach((tr, i) => { if (this.body.children[i] !== tr) this.body.insertBefore(tr, this.body.children[i] || null); });
  }
}
