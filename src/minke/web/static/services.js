// Services: replicas running/desired, update progress, ports, load balancing; scale,
// update image and rollback. A task event re-reads only its service's row.
import { byIds, get } from './api.js';
import { onEvents, onReconnect, touched } from './live.js';
import { KeyedRows, actionButton, badge, colour, h, ports, replace } from './dom.js';
import {
  image, lbInfo, modeName, notInSwarm, replicas, rollback, scale, serviceName, setImage, updateState,
} from './swarm.js';

let main;
let rows = null;

export function serviceActions(s) {
  const name = serviceName(s);
  const buttons = [];
  if (s.Spec.Mode?.Replicated) {
    buttons.push(actionButton('Scale', `Scale ${name}`, () => [
      h('label', {}, 'Replicas ', h('input', { type: 'number', name: 'replicas', min: 0,
        value: s.Spec.Mode.Replicated.Replicas ?? 1, required: true })),
    ], (v) => scale(s.ID, Number(v.replicas))));
  }
  buttons.push(actionButton('Image', `Update the image of ${name}`, () => [
    h('label', {}, 'Image ', h('input', { type: 'text', name: 'image', value: image(s), required: true })),
    h('p', { class: 'muted' }, 'Tasks are replaced as the service\'s update config says.'),
  ], (v) => setImage(s.ID, v.image.trim())));
  buttons.push(actionButton('Rollback', `Roll ${name} back`, [
    h('p', {}, 'Back to the previous spec of the service.'),
  ], () => rollback(s.ID)));
  return buttons;
}

function fill(s) {
  return (tr) => {
    const name = serviceName(s);
    const lb = lbInfo(s);
    const update = updateState(s);
    Object.assign(tr.dataset, { serviceId: s.ID, service: name });
    replace(tr,
      h('td', {}, h('span', { class: 'badge', style: { background: colour(name), color: '#fff' } }, ' '),
        h('a', { href: `/services/${s.ID}` }, name)),
      h('td', {}, modeName(s)),
      h('td', { class: 'mono' }, image(s)),
      h('td', { class: 'replicas', dataset: { field: 'replicas' } }, replicas(s)),
      h('td', {}, update ? badge(update) : '', s.UpdateStatus?.Message ? h('div', { class: 'muted' }, s.UpdateStatus.Message) : ''),
      h('td', {}, ports(s.Endpoint?.Ports)),
      h('td', {}, lb.strategy),
      h('td', { class: 'actions' }, serviceActions(s)));
  };
}

async function load() {
  let list;
  try { list = await get('/services?status=true'); } catch (err) { notInSwarm(main, err); return; }
  rows = new KeyedRows(['Name', 'Mode', 'Image', 'Replicas', 'Update', 'Ports', 'Balancing', ''],
    (tr) => tr.dataset.service);
  main.replaceChildren(h('h1', {}, 'Services'), rows.table);
  rows.putAll(list, (s) => s.ID, fill);
  document.body.dataset.ready = '1';
}

async function update(batch) {
  if (!rows) return;
  const s = touched(batch, 'service');
  const ids = new Set(s.changed);
  for (const e of batch) if (e.Type === 'task' && e.Actor.Attributes.service) ids.add(e.Actor.Attributes.service);
  for (const id of s.removed) { rows.drop(id); ids.delete(id); }
  if (!ids.size) return;
  rows.putAll(await byIds('/services', ids, { status: true }), (o) => o.ID, fill);
}

export function start(el) {
  main = el;
  onEvents(update);
  onReconnect(load);
  return load();
}
