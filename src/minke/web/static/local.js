// The single-node listings: images, networks, volumes and Compose projects. These lists
// are short; an event of their type re-reads the list (debounced by live.js's batching).
import { get } from './api.js';
import { onEvents, onReconnect } from './live.js';
import { ago, badge, bytes, h, shortId, table } from './dom.js';
import { containerActions, name } from './containers.js';

function listing(title, types, read) {
  return (main) => {
    const load = async () => {
      main.replaceChildren(h('h1', {}, title), await read());
      document.body.dataset.ready = '1';
    };
    onEvents((batch) => { if (batch.some((e) => types.includes(e.Type))) load(); });
    onReconnect(load);
    return load();
  };
}

export const images = listing('Images', ['image'], async () => {
  const list = await get('/images/json');
  return table(['Repository:tag', 'ID', 'Created', 'Size'], list.map((i) => h('tr', { dataset: { imageId: i.Id } },
    h('td', { class: 'mono' }, (i.RepoTags || []).join(', ') || '<none>'),
    h('td', { class: 'mono' }, shortId(i.Id.replace('sha256:', ''))),
    h('td', {}, ago(new Date(i.Created * 1000).toISOString())),
    h('td', {}, bytes(i.Size)))));
});

export const networks = listing('Networks', ['network'], async () => {
  const list = await get('/networks');
  list.sort((a, b) => a.Name.localeCompare(b.Name));
  return table(['Name', 'Driver', 'Scope', 'Subnets', 'ID'], list.map((n) => h('tr', { dataset: { network: n.Name } },
    h('td', {}, n.Name), h('td', {}, n.Driver), h('td', {}, n.Scope),
    h('td', { class: 'mono' }, (n.IPAM?.Config || []).map((c) => c.Subnet).join(', ')),
    h('td', { class: 'mono' }, shortId(n.Id)))));
});

export const volumes = listing('Volumes', ['volume'], async () => {
  const list = (await get('/volumes')).Volumes || [];
  list.sort((a, b) => a.Name.localeCompare(b.Name));
  return table(['Name', 'Driver', 'Mountpoint', 'Project'], list.map((v) => h('tr', { dataset: { volume: v.Name } },
    h('td', { class: 'mono' }, v.Name), h('td', {}, v.Driver), h('td', { class: 'mono' }, v.Mountpoint),
    h('td', {}, v.Labels?.['com.docker.compose.project'] || ''))));
});

// Compose projects: containers grouped by their com.docker.compose.project label.
export const compose = listing('Compose projects', ['container'], async () => {
  const list = await get('/containers/json?all=1&filters=' + encodeURIComponent(JSON.stringify({ label: ['com.docker.compose.project'] })));
  const projects = new Map();
  for (const c of list) {
    const p = c.Labels['com.docker.compose.project'];
    if (!projects.has(p)) projects.set(p, []);
    projects.get(p).push(c);
  }
  if (!projects.size) return h('p', { class: 'muted' }, 'No Compose projects on this node.');
  return h('div', {}, [...projects.keys()].sort().map((p) => {
    const cs = projects.get(p).sort((a, b) => name(a).localeCompare(name(b)));
    const running = cs.filter((c) => c.State === 'running').length;
    return h('section', { class: 'card', dataset: { project: p }, style: { marginBottom: '1rem' } },
      h('h2', {}, p, ' ', badge(running === cs.length ? 'running' : 'exited', `${running}/${cs.length} running`)),
      table(['Service', 'Container', 'State', ''], cs.map((c) => h('tr', {},
        h('td', {}, c.Labels['com.docker.compose.service'] || ''),
        h('td', {}, h('a', { href: `/containers/${c.Id}` }, name(c))),
        h('td', {}, badge(c.State), ' ', c.Status),
        h('td', { class: 'actions' }, containerActions(c.Id, name(c), c.State === 'running'))))));
  }));
});
