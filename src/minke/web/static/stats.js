// A container's stats stream (Docker's /containers/{id}/stats) as CPU, memory and network charts.
import { stream } from './api.js';
import { bytes, h } from './dom.js';
import { Sparkline } from './charts.js';

function cpuPercent(s) {
  const cpu = s.cpu_stats || {};
  const pre = s.precpu_stats || {};
  const delta = (cpu.cpu_usage?.total_usage ?? 0) - (pre.cpu_usage?.total_usage ?? 0);
  const system = (cpu.system_cpu_usage ?? 0) - (pre.system_cpu_usage ?? 0);
  const cpus = cpu.online_cpus || cpu.cpu_usage?.percpu_usage?.length || 1;
  return system > 0 && delta > 0 ? (delta / system) * cpus * 100 : 0;
}

function memory(s) {
  const m = s.memory_stats || {};
  const cache = m.stats?.inactive_file ?? m.stats?.cache ?? 0;
  return Math.max(0, (m.usage ?? 0) - cache);
}

function network(s) {
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks || {})) { rx += n.rx_bytes || 0; tx += n.tx_bytes || 0; }
  return { rx, tx };
}

export function statsPanel(containerId) {
  const cpu = new Sparkline('CPU', (v) => v.toFixed(1) + ' %');
  const mem = new Sparkline('Memory', bytes);
  const rx = new Sparkline('Network in', (v) => bytes(v) + '/s');
  const tx = new Sparkline('Network out', (v) => bytes(v) + '/s');
  const note = h('p', { class: 'muted' });
  const el = h('div', {}, h('div', { class: 'grid2' }, cpu.el, mem.el, rx.el, tx.el), note);
  const controller = new AbortController();
  const decoder = new TextDecoder();
  let text = '';
  let last = null;
  stream(`/containers/${containerId}/stats?stream=1`, (chunk) => {
    text += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = text.indexOf('\n')) >= 0) {
      const line = text.slice(0, nl).trim();
      text = text.slice(nl + 1);
      if (!line) continue;
      const s = JSON.parse(line);
      cpu.push(cpuPercent(s));
      mem.push(memory(s));
      const net = network(s);
      const t = Date.parse(s.read) || Date.now();
      if (last) {
        const dt = Math.max((t - last.t) / 1000, 0.001);
        rx.push(Math.max(0, (net.rx - last.rx) / dt));
        tx.push(Math.max(0, (net.tx - last.tx) / dt));
      }
      last = { ...net, t };
    }
  }, controller.signal).catch((err) => {
    if (err.name !== 'AbortError') note.textContent = 'stats: ' + err.message;
  });
  window.addEventListener('pagehide', () => controller.abort());
  return el;
}
