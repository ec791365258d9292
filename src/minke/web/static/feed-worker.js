// One EventSource for every dashboard tab of this browser: browsers open at most six
// HTTP/1.1 connections to a host, and an EventSource holds one for as long as it is open;
// with one per tab, the seventh tab would never load. Tabs talk to this shared worker.
const ports = new Set();
let source = null;
let up = false;

function broadcast(message) {
  for (const port of ports) port.postMessage(message);
}

const REOPEN_MS = 2000;  // after the browser gave up on the stream (it retries only some errors)

function open() {
  const mine = new EventSource('/events');
  source = mine;
  mine.onopen = () => { up = true; broadcast({ kind: 'open' }); };
  mine.onerror = () => {
    up = false;
    broadcast({ kind: 'error' });
    if (mine.readyState === EventSource.CLOSED) {
      setTimeout(() => { if (source === mine && ports.size) open(); }, REOPEN_MS);
    }
  };
  mine.onmessage = (m) => broadcast({ kind: 'event', data: m.data });
}

self.onconnect = (e) => {
  const port = e.ports[0];
  ports.add(port);
  port.onmessage = (m) => {
    if (m.data !== 'bye') return;
    ports.delete(port);
    if (!ports.size && source) { source.close(); source = null; up = false; }
  };
  if (!source) open();
  else if (up) port.postMessage({ kind: 'open' });
  port.start();
};
