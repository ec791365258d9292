// Live updates: the /events stream (one per browser, see feed-worker.js); events are handed to the views in
// small batches, so a burst (a service of 500 tasks scaled) is one re-read, not 500.
const BATCH_MS = 40;
const listeners = [];
const reloaders = [];
let queue = [];
let timer = null;
let lost = false;

export function onEvents(fn) { listeners.push(fn); }
export function onReconnect(fn) { reloaders.push(fn); }

function flush() {
  timer = null;
  const batch = queue;
  queue = [];
  for (const fn of listeners) {
    try { fn(batch); } catch (err) { console.warn('live update failed', err); }
  }
}

function indicator(up) {
  const el = document.getElementById('live');
  el.className = 'live ' + (up ? 'up' : 'down');
  el.textContent = up ? 'live' : 'reconnecting';
  document.body.dataset.live = up ? '1' : '0';
}

function opened() {
  indicator(true);
  if (lost) {  // events may have been missed while away: read everything once
    lost = false;
    for (const fn of reloaders) fn();
  }
}

function closed() { indicator(false); lost = true; }

function received(data) {
  const event = JSON.parse(data);
  if (event.Type === 'dashboard' && event.Action === 'reload') {
    for (const fn of reloaders) fn();
    return;
  }
  queue.push(event);
  if (!timer) timer = setTimeout(flush, BATCH_MS);
}

// Through the shared worker (one connection for all tabs), else an EventSource of our own.
export function connect() {
  if (window.SharedWorker) {
    const worker = new SharedWorker('/static/feed-worker.js', { name: 'minke-feed' });
    worker.port.onmessage = (m) => {
      const { kind, data } = m.data;
      if (kind === 'open') opened();
      else if (kind === 'error') closed();
      else received(data);
    };
    worker.port.start();
    window.addEventListener('pagehide', () => worker.port.postMessage('bye'));
    return;
  }
  let source = null;
  const open = () => {
    const mine = new EventSource('/events');
    source = mine;
    mine.onopen = opened;
    mine.onerror = () => {
      closed();
      if (mine.readyState === EventSource.CLOSED) setTimeout(() => { if (source === mine) open(); }, 2000);
    };
    mine.onmessage = (m) => received(m.data);
  };
  open();
  window.addEventListener('pagehide', () => { const s = source; source = null; s.close(); });
}

// The ids a batch names, by event Type; `removed` holds those whose object is gone.
export function touched(batch, type, goneActions = ['remove', 'destroy', 'delete']) {
  const changed = new Set();
  const removed = new Set();
  for (const e of batch) {
    if (e.Type !== type) continue;
    const id = e.Actor.ID;
    if (goneActions.includes(e.Action)) { removed.add(id); changed.delete(id); }
    else { changed.add(id); removed.delete(id); }
  }
  return { changed, removed };
}
