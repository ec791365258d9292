// Logs, followed: Docker's log stream (8-byte frame headers unless the container has a TTY)
// appended to a <pre>, keeping the last MAX_LINES lines.
import { stream } from './api.js';
import { h } from './dom.js';

const MAX_LINES = 2000;

export function logPanel(path) {
  const pre = h('pre', { class: 'logs', dataset: { logs: path } });
  const controller = new AbortController();
  const decoder = new TextDecoder();
  let pending = new Uint8Array(0);
  let framed = null;  // decided on the first bytes

  function write(text, stderr) {
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(stderr ? h('span', { class: 'stderr' }, text) : document.createTextNode(text));
    while (pre.childNodes.length > MAX_LINES) pre.firstChild.remove();
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  function onChunk(chunk) {
    const buf = new Uint8Array(pending.length + chunk.length);
    buf.set(pending);
    buf.set(chunk, pending.length);
    if (framed === null && buf.length >= 8) {
      framed = buf[0] <= 2 && buf[1] === 0 && buf[2] === 0 && buf[3] === 0;
    }
    if (framed === false) { pending = new Uint8Array(0); write(decoder.decode(buf, { stream: true }), false); return; }
    let at = 0;
    while (buf.length - at >= 8) {
      const size = ((buf[at + 4] << 24) | (buf[at + 5] << 16) | (buf[at + 6] << 8) | buf[at + 7]) >>> 0;
      if (buf.length - at - 8 < size) break;
      write(decoder.decode(buf.subarray(at + 8, at + 8 + size)), buf[at] === 2);
      at += 8 + size;
    }
    pending = buf.slice(at);
  }

  stream(path, onChunk, controller.signal)
    .then(() => write('\n— end of log —\n', false))
    .catch((err) => { if (err.name !== 'AbortError') write(`\n— ${err.message} —\n`, true); });
  window.addEventListener('pagehide', () => controller.abort());
  return pre;
}
