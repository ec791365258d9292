// One service: its spec in brief, tasks by slot with their history, balancing, logs.
import { byIds, get, query } from './api.js';
import { onEvents, touched } from './live.js';
import { KeyedRows, ago, badge, bytes, facts, h, ports, replace, shortId, table } from './dom.js';
import { Sparkline } from './charts.js';
import { logPanel } from './logs.js';
import { serviceActions } from './services.js';
import { image, lbInfo, modeName, notInSwarm, replicas, serviceName, updateState } from './swarm.js';

let main;
let id;
let info;
let lbBox;
let taskRows = null;
const nodeNames = new Map();

function renderInfo(s) {
  const u = s.UpdateStatus;
  replace(info,
    facts([
      ['ID', h('span', { class: 'mono' }, s.ID)],
      ['Mode', modeName(s)],
      ['Image', h('span', { class: 'mono' }, image(s))],
      ['Replicas', h('span', { dataset: { field: 'replicas' } }, replicas(s))],
      ['Update', u?.State ? [badge(updateState(s)), ' ', u.Message || '', u.StartedAt ? ` (started ${ago(u.StartedAt)})` : ''] : 'none'],
      ['Ports', ports(s.Endpoint?.Ports) || 'none'],
      ['Virtual IPs', (s.Endpoint?.VirtualIPs || []).map((v) => v.Addr).join(', ')],
      ['Placement', (s.Spec.TaskTemplate?.Placement?.Constraints || []).join(', ')],
      ['Updated', ago(s.UpdatedAt)],
    ]),
    h('p', {}, serviceActions(s)));
  renderLb(s);
}

const LB_POLL_MS = 2000;  // the balancer re-weighs every period (<= 1 s); charts sample it
let charts = null;
let lbTable;
let lbFacts;
let lastTotals = null;

function renderLb(s) {
  const lb = lbInfo(s);
  if (!lbFacts) {
    lbFacts = h('div');
    lbTable = h('div');
    lbBox.replaceChildren(lbFacts, lbTable);
  }
  replace(lbFacts, facts([['Strategy', lb.strategy], ['Circuit breaker', lb.breaker || ''],
    ['Weights set', lb.updatedAt ? ago(lb.updatedAt) : '']]));
  if (!Array.isArray(lb.backends) || !lb.backends.length) {
    replace(lbTable, h('p', { class: 'muted' }, 'No per-backend data reported for this service on this node.'));
    return;
  }
  replace(lbTable, table(['Backend task', 'Address', 'Weight', 'State', 'Connections', 'Traffic',
    'Connects ok / failed', 'Ejections'], lb.backends.map((b) => h('tr', { dataset: { backend: b.TaskID, state: b.State } },
    h('td', { class: 'mono' }, h('a', { href: `/tasks/${b.TaskID}` }, shortId(b.TaskID))),
    h('td', { class: 'mono' }, (b.Addresses || []).join(', ')),
    h('td', {}, b.Weight !== undefined ? (b.Weight * 100).toFixed(1) + ' %' : ''),
    h('td', {}, badge(b.State === 'ejected' ? 'failed' : b.State === 'probing' ? 'starting' : 'running', b.State),
      b.EjectedUntil ? h('div', { class: 'muted' }, 'until ' + new Date(b.EjectedUntil).toLocaleTimeString()) : ''),
    h('td', {}, b.Connections ?? ''),
    h('td', {}, bytes(b.BytesPerSecond ?? 0) + '/s'),
    h('td', {}, `${b.ConnectSuccesses ?? 0} / ${b.ConnectFailures ?? 0}`),
    h('td', {}, b.Ejections ?? 0)))));
  if (!charts) {
    charts = {
      connects: new Sparkline('New connections/s (this node)', (v) => v.toFixed(1)),
      bytes: new Sparkline('Bytes/s (this node)', (v) => bytes(v) + '/s'),
      live: new Sparkline('Live connections', (v) => String(Math.round(v))),
    };
    lbBox.append(h('div', { class: 'grid2' }, charts.connects.el, charts.bytes.el, charts.live.el));
  }
  const totals = { t: Date.now(), connects: 0, rate: 0, bytes: 0, live: 0 };
  for (const b of lb.backends) {
    totals.connects += (b.ConnectSuccesses || 0) + (b.ConnectFailures || 0);
    totals.rate += b.NewPerSecond || 0;
    totals.bytes += b.BytesPerSecond || 0;
    totals.live += b.Connections || 0;
  }
  if (lb.backends.some((b) => b.NewPerSecond !== undefined)) charts.connects.push(totals.rate);
  else if (lastTotals) {  // older balancers: the rate from the connect counters
    const dt = Math.max((totals.t - lastTotals.t) / 1000, 0.001);
    charts.connects.push(Math.max(0, (totals.connects - lastTotals.connects) / dt));
  }
  charts.bytes.push(totals.bytes);
  charts.live.push(totals.live);
  lastTotals = totals;
}

async function inspect() {
  const [s, listed] = await Promise.all([get(`/services/${id}`), byIds('/services', [id], { status: true })]);
  return { ...s, ServiceStatus: listed[0]?.ServiceStatus };
}

function fillTask(t) {
  return (tr) => {
    const state = t.Status?.State || 'new';
    tr.dataset.taskId = t.ID;
    tr.dataset.key = `${String(t.Slot || 0).padStart(6, '0')}${t.NodeID}${String(9e15 - Date.parse(t.CreatedAt)).padStart(17, '0')}`;
    replace(tr,
      h('td', { class: 'mono' }, h('a', { href: `/tasks/${t.ID}` }, shortId(t.ID))),
      h('td', {}, t.Slot ? `${main.dataset.name}.${t.Slot}` : ''),
      h('td', {}, nodeNames.get(t.NodeID) || shortId(t.NodeID)),
      h('td', {}, t.DesiredState),
      h('td', {}, badge(state), ' ', ago(t.Status?.Timestamp)),
      h('td', { class: 'error' }, t.Status?.Err || ''));
  };
}

async function load() {
  let s;
  let tasks;
  let nodes;
  try {
    [s, tasks, nodes] = await Promise.all([
      get(`/services/${id}`), get('/tasks' + query({ filters: { service: [id] } })), get('/nodes')]);
  } catch (err) { notInSwarm(main, err); return; }
  for (const n of nodes) nodeNames.set(n.ID, n.Description?.Hostname || shortId(n.ID));
  s = await inspect();
  main.dataset.name = serviceName(s);
  info = h('div', { class: 'card' });
  lbBox = h('div', { class: 'card', dataset: { section: 'lb' } });
  taskRows = new KeyedRows(['Task', 'Name', 'Node', 'Desired', 'State', 'Error'], (tr) => tr.dataset.key);
  main.replaceChildren(h('h1', {}, 'Service ', serviceName(s)), info,
    h('h2', {}, 'Load balancing'), lbBox,
    h('h2', {}, 'Tasks (history per slot, newest first)'), taskRows.table,
    h('h2', {}, 'Logs'), logPanel(`/services/${s.ID}/logs?follow=1&stdout=1&stderr=1&tail=200`));
  renderInfo(s);
  if (s.LoadBalancer) {
    // Weights and counters are not events: sample them while the page is open.
    setInterval(async () => { try { renderLb(await get(`/services/${id}`)); } catch (_) { /* gone */ } }, LB_POLL_MS);
  }
  taskRows.putAll(tasks, (o) => o.ID, fillTask);
  document.body.dataset.ready = '1';
}

async function update(batch) {
  if (!taskRows) return;
  // service events include the balancer's lb-eject / lb-probe / lb-readmit
  const mine = batch.filter((e) => (e.Type === 'task' && e.Actor.Attributes.service === id)
    || (e.Type === 'service' && e.Actor.ID === id));
  if (!mine.length) return;
  const t = touched(mine, 'task');
  for (const tid of t.removed) taskRows.drop(tid);
  renderInfo(await inspect());
  if (t.changed.size) {
    taskRows.putAll(await byIds('/tasks', t.changed), (o) => o.ID, fillTask);
  }
}

export function start(el) {
  main = el;
  id = document.body.dataset.id;
  onEvents(update);
  return load();
}
