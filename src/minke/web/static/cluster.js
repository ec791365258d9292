// The cluster view: a column per node (role, availability, status, leader, reserved vs
// total CPU and memory, labels) with its tasks drawn in it, as Swarm Visualizer does.
// Kept current from the event feed: only the nodes, tasks and services an event names
// are re-read, never the whole listing.
import { byIds, get } from './api.js';
import { onEvents, onReconnect, touched } from './live.js';
import { actionButton, badge, bytes, colour, h, replace } from './dom.js';
import { notInSwarm, serviceName, setAvailability, taskName } from './swarm.js';

const nodes = new Map();     // id -> { data, el, head, list, tasks: Set }
const tasks = new Map();     // id -> { data, el, node }
const services = new Map();  // id -> service
let main;
let columns;
let unassigned;
let summary;
let bulk = false;  // while the first listing is drawn, node headers are drawn once at the end

function visible(task) {
  return ['running', 'ready'].includes(task.DesiredState) || task.Status?.State === 'running';
}

function nodeName(node) { return node.Description?.Hostname || node.Spec?.Name || node.ID.slice(0, 12); }

function bar(label, used, total, format) {
  const share = total > 0 ? Math.min(100, (used / total) * 100) : 0;
  return [
    h('div', { class: 'bar-label' }, h('span', {}, label), h('span', {}, `${format(used)} / ${format(total)}`)),
    h('div', { class: 'bar', title: `${share.toFixed(0)} % reserved` }, h('span', { style: { width: share + '%' } })),
  ];
}

function reserved(entry) {
  let cpu = 0;
  let mem = 0;
  for (const id of entry.tasks) {
    const r = tasks.get(id)?.data.Spec?.Resources?.Reservations || {};
    cpu += r.NanoCPUs || 0;
    mem += r.MemoryBytes || 0;
  }
  return { cpu, mem };
}

function renderHead(entry) {
  const n = entry.data;
  const status = n.Status?.State || 'unknown';
  const availability = n.Spec?.Availability || 'active';
  const leader = n.ManagerStatus?.Leader;
  entry.el.className = `node status-${status} availability-${availability}`;
  Object.assign(entry.el.dataset, { status, availability, hostname: nodeName(n) });
  const res = n.Description?.Resources || {};
  const used = reserved(entry);
  const labels = Object.entries(n.Spec?.Labels || {}).map(([k, v]) => (v ? `${k}=${v}` : k));
  replace(entry.head,
    h('div', { class: 'name', title: n.ID }, nodeName(n),
      leader ? h('span', { class: 'leader', title: 'leader' }, '★') : null,
      h('span', { class: 'nid' }, n.ID.slice(0, 12))),
    h('div', { class: 'meta' }, badge(n.Spec?.Role, n.Spec?.Role), badge(availability),
      h('span', { class: 'badge state-' + status, dataset: { field: 'status' } }, status)),
    bar('CPU', used.cpu / 1e9, (res.NanoCPUs || 0) / 1e9, (v) => v.toFixed(1)),
    bar('Memory', used.mem, res.MemoryBytes || 0, bytes),
    labels.length ? h('div', { class: 'labels' }, labels.join(' · ')) : null,
    h('div', { class: 'node-actions' },
      availability === 'active'
        ? actionButton('Drain', `Drain ${nodeName(n)}`, [h('p', {}, 'Its tasks move to other nodes.')],
          () => setAvailability(n.ID, 'drain'))
        : actionButton('Activate', `Activate ${nodeName(n)}`, [h('p', {}, 'It takes new tasks again.')],
          () => setAvailability(n.ID, 'active'))));
}

function nodeEntry(node) {
  let entry = nodes.get(node.ID);
  if (!entry) {
    const head = h('div', { class: 'node-head' });
    const list = h('div', { class: 'tasks' });
    const el = h('section', { dataset: { nodeId: node.ID } }, head, list);
    entry = { data: node, el, head, list, tasks: new Set() };
    nodes.set(node.ID, entry);
    columns.insertBefore(el, unassigned.el);
  }
  entry.data = node;
  renderHead(entry);
  return entry;
}

function taskKey(task) { return `${serviceName(services.get(task.ServiceID))}\u0000${String(task.Slot).padStart(6, '0')}\u0000${task.ID}`; }

function renderTask(entry) {
  const t = entry.data;
  const service = services.get(t.ServiceID);
  const state = t.Status?.State || 'new';
  entry.el.className = 'task state-' + state;
  entry.el.style.setProperty('--svc', colour(serviceName(service) || t.ServiceID));
  Object.assign(entry.el.dataset, { state, service: serviceName(service), key: taskKey(t) });
  entry.el.title = `${t.ID}\n${t.Status?.Message || ''}${t.Status?.Err ? '\n' + t.Status.Err : ''}`;
  replace(entry.el, taskName(t, service), h('span', { class: 'tstate' }, state));
}

function placeIn(list, el) {
  const key = el.dataset.key;
  for (const other of list.children) {
    if (other !== el && other.dataset.key > key) { list.insertBefore(el, other); return; }
  }
  list.append(el);
}

function columnOf(nodeId) { return nodes.get(nodeId) || unassigned; }

function dropTask(id) {
  const entry = tasks.get(id);
  if (!entry) return;
  entry.el.remove();
  const column = columnOf(entry.node);
  column.tasks.delete(id);
  tasks.delete(id);
  if (column !== unassigned && !bulk) renderHead(column);
}

function upsertTask(task) {
  if (!visible(task)) { dropTask(task.ID); return; }
  let entry = tasks.get(task.ID);
  if (!entry) {
    entry = { data: task, el: h('a', { href: `/tasks/${task.ID}`, dataset: { taskId: task.ID } }), node: null };
    tasks.set(task.ID, entry);
  }
  entry.data = task;
  renderTask(entry);
  const column = columnOf(task.NodeID);
  if (entry.node !== (task.NodeID || '') || !entry.el.isConnected) {
    if (entry.node !== null) {
      const old = columnOf(entry.node);
      old.tasks.delete(task.ID);
      if (old !== unassigned && old !== column && !bulk) renderHead(old);
    }
    entry.node = task.NodeID || '';
    column.tasks.add(task.ID);
  }
  if (bulk) column.list.append(entry.el);  // in order already (sorted in load)
  else placeIn(column.list, entry.el);
  if (column !== unassigned && !bulk) renderHead(column);
}

function renderSummary() {
  let running = 0;
  for (const t of tasks.values()) if (t.data.Status?.State === 'running') running++;
  const down = [...nodes.values()].filter((n) => n.data.Status?.State !== 'ready').length;
  replace(summary, h('span', {}, h('b', {}, nodes.size), ' nodes', down ? ` (${down} not ready)` : ''),
    h('span', {}, h('b', {}, services.size), ' services'),
    h('span', { dataset: { running } }, h('b', {}, running), ' tasks running'));
  unassigned.el.hidden = unassigned.tasks.size === 0;
}

async function load() {
  let all;
  try {
    all = await Promise.all([get('/nodes'), get('/services'), get('/tasks')]);
  } catch (err) {
    notInSwarm(main, err);
    return;
  }
  const [nodeList, serviceList, taskList] = all;
  nodes.clear(); tasks.clear(); services.clear();
  summary = h('div', { class: 'summary' });
  const list = h('div', { class: 'tasks' });
  unassigned = { el: h('section', { class: 'node unassigned', dataset: { nodeId: '' } },
    h('div', { class: 'node-head' }, h('div', { class: 'name' }, 'Not yet placed')), list), list, tasks: new Set() };
  columns = h('div', { class: 'nodes', id: 'nodes' }, unassigned.el);
  main.replaceChildren(h('h1', {}, 'Cluster'), summary, columns);
  for (const s of serviceList) services.set(s.ID, s);
  nodeList.sort((a, b) => (b.Spec.Role === 'manager') - (a.Spec.Role === 'manager') || nodeName(a).localeCompare(nodeName(b)));
  for (const n of nodeList) nodeEntry(n);
  bulk = true;
  const keyed = taskList.map((t) => [taskKey(t), t]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [, t] of keyed) upsertTask(t);
  bulk = false;
  for (const entry of nodes.values()) renderHead(entry);
  renderSummary();
  document.body.dataset.ready = '1';
}

async function update(batch) {
  if (!columns) return;
  const n = touched(batch, 'node');
  const s = touched(batch, 'service');
  const t = touched(batch, 'task');
  for (const id of s.removed) services.delete(id);
  for (const id of t.removed) dropTask(id);
  for (const id of n.removed) {
    const entry = nodes.get(id);
    if (entry) { entry.el.remove(); nodes.delete(id); }
  }
  const [nodeList, serviceList, taskList] = await Promise.all([
    n.changed.size ? byIds('/nodes', n.changed) : [],
    s.changed.size ? byIds('/services', s.changed) : [],
    t.changed.size ? byIds('/tasks', t.changed) : [],
  ]);
  for (const svc of serviceList) services.set(svc.ID, svc);
  for (const node of nodeList) nodeEntry(node);
  for (const task of taskList) upsertTask(task);
  if (serviceList.length) for (const entry of tasks.values()) if (s.changed.has(entry.data.ServiceID)) renderTask(entry);
  renderSummary();
}

export function start(el) {
  main = el;
  onEvents(update);
  onReconnect(load);
  return load();
}
