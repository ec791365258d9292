// Containers of this node: state, image, ports, Compose project; stop and restart. A
// container event re-reads that container only.
import { act, byIds, get } from './api.js';
import { onEvents, onReconnect, touched } from './live.js';
import { KeyedRows, actionButton, badge, h, ports, replace, shortId } from './dom.js';

let main;
let rows = null;

export function name(c) { return (c.Names?.[0] || c.Name || '').replace(/^\//, '') || shortId(c.Id); }

export function containerActions(id, label, running) {
  return [
    running ? actionButton('Stop', `Stop ${label}`, [h('p', {}, 'SIGTERM, then SIGKILL after the stop timeout.')],
      () => act('POST', `/containers/${id}/stop`)) : null,
    actionButton('Restart', `Restart ${label}`, [h('p', {}, 'Stop, then start it again.')],
      () => act('POST', `/containers/${id}/restart`)),
  ];
}

function fill(c) {
  return (tr) => {
    const label = name(c);
    const labels = c.Labels || {};
    Object.assign(tr.dataset, { containerId: c.Id, name: label, state: c.State });
    replace(tr,
      h('td', {}, h('a', { href: `/containers/${c.Id}` }, label)),
      h('td', { class: 'mono' }, c.Image),
      h('td', {}, badge(c.State), ' ', c.Status),
      h('td', {}, ports(c.Ports)),
      h('td', {}, labels['com.docker.compose.project'] || labels['com.docker.stack.namespace'] || ''),
      h('td', {}, labels['com.docker.swarm.service.name'] || ''),
      h('td', { class: 'actions' }, containerActions(c.Id, label, c.State === 'running')));
  };
}

async function load() {
  const list = await get('/containers/json?all=1');
  rows = new KeyedRows(['Name', 'Image', 'State', 'Ports', 'Project', 'Service', ''], (tr) => tr.dataset.name);
  main.replaceChildren(h('h1', {}, 'Containers'), rows.table);
  rows.putAll(list, (c) => c.Id, fill);
  document.body.dataset.ready = '1';
}

async function update(batch) {
  if (!rows) return;
  const c = touched(batch, 'container');
  for (const id of c.removed) rows.drop(id);
  if (!c.changed.size) return;
  rows.putAll(await byIds('/containers/json', c.changed, { all: 1 }), (o) => o.Id, fill);
}

export function start(el) {
  main = el;
  onEvents(update);
  onReconnect(load);
  return load();
}
