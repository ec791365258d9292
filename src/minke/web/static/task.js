// One task: its status, the history of its slot (the tasks that held it before), the
// transitions seen while the page is open, logs (followed) and its container's stats.
import { byIds, get, query } from './api.js';
import { onEvents } from './live.js';
import { ago, badge, facts, h, replace, shortId, table } from './dom.js';
import { logPanel } from './logs.js';
import { statsPanel } from './stats.js';
import { notInSwarm, taskName } from './swarm.js';

let main;
let id;
let info;
let seen;

function renderInfo(t, service, node) {
  const cs = t.Status?.ContainerStatus || {};
  replace(info, facts([
    ['ID', h('span', { class: 'mono' }, t.ID)],
    ['Name', taskName(t, service)],
    ['Service', h('a', { href: `/services/${t.ServiceID}` }, service?.Spec?.Name || t.ServiceID)],
    ['Node', node ? (node.Description?.Hostname || node.ID) : (t.NodeID || 'not placed')],
    ['Desired state', t.DesiredState],
    ['State', h('span', { dataset: { field: 'state' } }, badge(t.Status?.State), ' ', t.Status?.Message || '')],
    ['Since', ago(t.Status?.Timestamp)],
    ['Error', t.Status?.Err ? h('span', { class: 'error' }, t.Status.Err) : ''],
    ['Container', cs.ContainerID ? h('a', { class: 'mono', href: `/containers/${cs.ContainerID}` }, shortId(cs.ContainerID)) : ''],
    ['Exit code', cs.ExitCode ?? ''],
  ]));
}

async function load() {
  let t;
  try { t = await get(`/tasks/${id}`); } catch (err) { notInSwarm(main, err); return; }
  const [service, node, slot] = await Promise.all([
    get(`/services/${t.ServiceID}`).catch(() => null),
    t.NodeID ? get(`/nodes/${t.NodeID}`).catch(() => null) : null,
    get('/tasks' + query({ filters: { service: [t.ServiceID] } })),
  ]);
  const history = slot.filter((o) => (t.Slot ? o.Slot === t.Slot : o.NodeID === t.NodeID))
    .sort((a, b) => Date.parse(b.CreatedAt) - Date.parse(a.CreatedAt));
  info = h('div', { class: 'card' });
  seen = h('tbody');
  const transitions = table(['When', 'State', 'Message'], []);
  transitions.tBodies[0].replaceWith(seen);
  const containerId = t.Status?.ContainerStatus?.ContainerID;
  main.replaceChildren(h('h1', {}, 'Task ', taskName(t, service)), info,
    h('h2', {}, 'History of this slot'),
    table(['Task', 'Created', 'Desired', 'State', 'Error'], history.map((o) => h('tr', { dataset: { taskId: o.ID } },
      h('td', { class: 'mono' }, o.ID === id ? shortId(o.ID) : h('a', { href: `/tasks/${o.ID}` }, shortId(o.ID))),
      h('td', {}, ago(o.CreatedAt)), h('td', {}, o.DesiredState),
      h('td', {}, badge(o.Status?.State), ' ', ago(o.Status?.Timestamp)),
      h('td', { class: 'error' }, o.Status?.Err || '')))),
    h('h2', {}, 'Changes seen on this page'), transitions,
    h('h2', {}, 'Stats'), containerId ? statsPanel(containerId) : h('p', { class: 'muted' }, 'No container yet.'),
    h('h2', {}, 'Logs'), logPanel(`/tasks/${id}/logs?follow=1&stdout=1&stderr=1&tail=200`));
  renderInfo(t, service, node);
  document.body.dataset.ready = '1';
  return { service, node };
}

export function start(el) {
  main = el;
  id = document.body.dataset.id;
  const context = load();
  onEvents(async (batch) => {
    if (!batch.some((e) => e.Type === 'task' && e.Actor.ID === id)) return;
    const [t] = await byIds('/tasks', [id]);
    if (!t || !info) return;
    const { service, node } = (await context) || {};
    renderInfo(t, service, node);
    seen.prepend(h('tr', {}, h('td', {}, new Date().toLocaleTimeString()), h('td', {}, badge(t.Status?.State)),
      h('td', {}, t.Status?.Message || '')));
  });
  return context;
}
