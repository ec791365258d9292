// What the swarm views share: reading services and nodes, the CLI's update calls.
import { act, get, query } from './api.js';
import { h } from './dom.js';

export const LB_LABEL = 'com.minke.lb.strategy';

export function serviceName(service) { return service?.Spec?.Name ?? ''; }

export function taskName(task, service) {
  const base = serviceName(service) || task.ServiceID?.slice(0, 12);
  return task.Slot ? `${base}.${task.Slot}` : `${base}.${(task.NodeID || '').slice(0, 12)}`;
}

export function replicas(service) {
  const mode = service.Spec.Mode || {};
  const status = service.ServiceStatus || {};
  const running = status.RunningTasks ?? 0;
  if (mode.Replicated) return `${running}/${mode.Replicated.Replicas ?? 1}`;
  if (mode.Global) return `${running}/${status.DesiredTasks ?? '?'} (global)`;
  const job = mode.ReplicatedJob || mode.GlobalJob;
  if (job) return `${status.CompletedTasks ?? 0} completed (job)`;
  return String(running);
}

export function modeName(service) {
  return Object.keys(service.Spec.Mode || {})[0]?.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase() ?? '';
}

export function image(service) {
  return (service.Spec.TaskTemplate?.ContainerSpec?.Image || '').replace(/@sha256:[0-9a-f]+$/, '');
}

export function updateState(service) {
  const u = service.UpdateStatus;
  if (!u || !u.State) return '';
  return u.State;
}

// Load balancing: the strategy label, and (service inspect only) minke's ``LoadBalancer``
// section: this node's per-backend weights, connections and ejections (docs/load-balancing.md).
export function lbInfo(service) {
  const labels = service.Spec.Labels || {};
  const lb = service.LoadBalancer || null;
  const dnsrr = service.Spec.EndpointSpec?.Mode === 'dnsrr';
  return {
    strategy: lb?.Strategy || labels[LB_LABEL] || (dnsrr ? 'dnsrr (no VIP)' : 'round-robin'),
    breaker: lb?.Breaker,
    backends: lb?.Backends || null,
    updatedAt: lb?.UpdatedAt,
  };
}

export async function updateService(id, change, extra = {}) {
  const service = await get(`/services/${id}`);
  const spec = structuredClone(service.Spec);
  change(spec);
  return act('POST', `/services/${id}/update${query({ version: service.Version.Index, ...extra })}`, spec);
}

export function scale(id, n) {
  return updateService(id, (spec) => {
    if (!spec.Mode?.Replicated) throw new Error('only replicated services scale');
    spec.Mode.Replicated.Replicas = n;
  });
}

export function setImage(id, ref) {
  return updateService(id, (spec) => { spec.TaskTemplate.ContainerSpec.Image = ref; });
}

export function rollback(id) {
  return updateService(id, () => {}, { rollback: 'previous' });
}

export async function setAvailability(id, availability) {
  const node = await get(`/nodes/${id}`);
  return act('POST', `/nodes/${id}/update${query({ version: node.Version.Index })}`,
    { ...node.Spec, Availability: availability });
}

export function notInSwarm(main, err) {
  main.replaceChildren(h('div', { class: 'card' },
    h('p', {}, err.message),
    h('p', {}, 'This view needs swarm mode. Containers, images, networks and volumes of this node are under ',
      h('a', { href: '/containers' }, 'Containers'), '.')));
}
