// One container: inspect in brief, stop/restart, stats charts and logs (followed).
import { get } from './api.js';
import { onEvents } from './live.js';
import { ago, badge, facts, h, replace } from './dom.js';
import { containerActions } from './containers.js';
import { logPanel } from './logs.js';
import { statsPanel } from './stats.js';

let main;
let id;
let info;

function render(c) {
  const label = c.Name.replace(/^\//, '');
  const labels = c.Config?.Labels || {};
  replace(info, facts([
    ['ID', h('span', { class: 'mono' }, c.Id)],
    ['Image', h('span', { class: 'mono' }, c.Config?.Image)],
    ['State', h('span', { dataset: { field: 'state' } }, badge(c.State.Status), c.State.Health ? badge(c.State.Health.Status) : '')],
    ['Started', ago(c.State.StartedAt)],
    ['Exit code', c.State.Running ? '' : c.State.ExitCode],
    ['Command', h('span', { class: 'mono' }, [c.Path, ...(c.Args || [])].join(' '))],
    ['Networks', Object.entries(c.NetworkSettings?.Networks || {}).map(([n, v]) => `${n} ${v.IPAddress || ''}`).join(', ')],
    ['Compose project', labels['com.docker.compose.project'] || ''],
    ['Swarm task', labels['com.docker.swarm.task.id'] ? h('a', { href: `/tasks/${labels['com.docker.swarm.task.id']}` }, labels['com.docker.swarm.task.name'] || 'task') : ''],
  ]), h('p', {}, containerActions(c.Id, label, c.State.Running)));
}

async function load() {
  const c = await get(`/containers/${id}/json`);
  info = h('div', { class: 'card' });
  main.replaceChildren(h('h1', {}, 'Container ', c.Name.replace(/^\//, '')), info,
    h('h2', {}, 'Stats'), statsPanel(c.Id),
    h('h2', {}, 'Logs'), logPanel(`/containers/${c.Id}/logs?follow=1&stdout=1&stderr=1&tail=200`));
  render(c);
  id = c.Id;
  document.body.dataset.ready = '1';
}

export function start(el) {
  main = el;
  id = document.body.dataset.id;
  onEvents(async (batch) => {
    if (!info || !batch.some((e) => e.Type === 'container' && e.Actor.ID === id)) return;
    render(await get(`/containers/${id}/json`));
  });
  return load();
}
