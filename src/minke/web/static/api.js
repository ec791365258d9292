// The Docker Engine API as the dashboard reaches it: the daemon's own handlers under /docker.
export const BASE = '/docker';
const CHUNK = 40;  // ids per filtered read: keeps URLs short on a page with 1,000 tasks

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function check(response) {
  if (response.ok) return response;
  let message = response.statusText;
  try { message = (await response.json()).message || message; } catch (_) { /* not JSON */ }
  throw new ApiError(response.status, message);
}

const READ_ATTEMPTS = 3;  // a read cut by a network change (Wi-Fi, VPN, a new interface) is retried

export async function get(path) {
  for (let attempt = 1; ; attempt++) {
    let response;
    try {
      response = await fetch(BASE + path, { headers: { Accept: 'application/json' } });
    } catch (err) {  // fetch rejects with a TypeError only when the request never completed
      if (attempt >= READ_ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      continue;
    }
    return (await check(response)).json();
  }
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    q.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

// Objects of one listing by id, read in chunks (`path` is e.g. "/tasks", extra the other params).
export async function byIds(path, ids, extra = {}) {
  const found = [];
  const list = [...ids];
  for (let i = 0; i < list.length; i += CHUNK) {
    const filters = { ...(extra.filters || {}), id: list.slice(i, i + CHUNK) };
    found.push(...await get(path + query({ ...extra, filters })));
  }
  return found;
}

export function csrf() {
  return document.querySelector('meta[name=csrf]').content;
}

export function loggedIn() { return document.body.dataset.auth === '1'; }

// An action: the same call the docker CLI makes, with the dashboard's CSRF header.
export async function act(method, path, body) {
  const init = { method, headers: { 'X-Minke-CSRF': csrf() } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await check(await fetch(BASE + path, init));
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

// A streaming read (logs, stats): calls onChunk(Uint8Array) until the stream ends or abort.
export async function stream(path, onChunk, signal) {
  const response = await check(await fetch(BASE + path, { signal }));
  const reader = response.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onChunk(value);
  }
}
