// Client for the IOPaint text-removal service. Its contract: docs/API.md at the root of the
// service's repository (the live schema is served at /docs and /openapi.json).
// Plain ES module for Node 18+ and browsers: fetch for HTTP, WebSocket for progress.
// Types: index.d.ts at the package root.

const FINAL_TYPES = new Set(['task_completed', 'task_failed', 'task_cancelled']);

/** Field names the client takes in camelCase and sends in the API's snake_case. */
const CAMEL_TO_SNAKE = {
  taskId: 'task_id',
  callbackUrl: 'callback_url',
  enableProgress: 'enable_progress',
  progressInterval: 'progress_interval',
  maskMode: 'mask_mode',
  outputFormat: 'output_format',
  removeText: 'remove_text',
  keepText: 'keep_text',
};
const PATTERN_FIELDS = new Set(['remove_text', 'keep_text']); // one string is one pattern

/** A parameter as the service takes it: remove_text / keep_text as lists. */
function field(key, v) {
  return PATTERN_FIELDS.has(key) && typeof v === 'string' ? [v] : v;
}

/**
 * Every failure the client reports: an HTTP error answer (status, code = the JSON `error`,
 * detail = the JSON `detail`), a network failure (status 0, code "network_error"), or a
 * progress connection that ended early (status 0, code "connection_closed").
 */
export class ServiceError extends Error {
  /**
   * @param {string} message
   * @param {{status?: number, code?: string, detail?: any, body?: any, headers?: Headers|null,
   *          retryAfter?: number|null, errors?: any[]|null, cause?: any}} [info]
   */
  constructor(message, info = {}) {
    super(message, info.cause !== undefined ? { cause: info.cause } : undefined);
    this.name = 'ServiceError';
    this.status = info.status ?? 0;
    this.code = info.code ?? 'error';
    this.detail = info.detail ?? message;
    this.body = info.body ?? null;
    this.headers = info.headers ?? null;
    this.retryAfter = info.retryAfter ?? null;
    this.errors = info.errors ?? null;
  }
}

// ---------------------------------------------------------------- signed callbacks

export const SIGNATURE_HEADER = 'X-IOPaint-Signature';
export const DELIVERY_HEADER = 'X-IOPaint-Delivery';

/** A callback whose signature is missing, malformed, wrong, or older than the tolerance. */
export class InvalidSignature extends Error {
  constructor(message) {
    super(message);
    this.name = 'InvalidSignature';
    this.code = 'invalid_signature';
  }
}

async function hmacSha256Hex(secret, data) {
  const subtle = globalThis.crypto?.subtle ?? (await import('node:crypto')).webcrypto.subtle;
  const enc = new TextEncoder();
  const key = await subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await subtle.sign('HMAC', key, data));
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('');
}

function sameText(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * Check a callback's X-IOPaint-Signature (`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`)
 * against the raw request body, exactly as received (before any JSON parsing). Resolves to the signed
 * unix time; rejects with InvalidSignature for a wrong or missing signature, or one more than
 * `tolerance` seconds (default 300) away from `now` (unix seconds, default the clock).
 */
export async function verifySignature(body, signature, secret, { tolerance = 300, now } = {}) {
  if (!secret) throw new TypeError('verifySignature needs the CALLBACK_SECRET the service signs with');
  if (!signature) throw new InvalidSignature(`no ${SIGNATURE_HEADER} header`);
  const raw = typeof body === 'string' ? new TextEncoder().encode(body)
    : body instanceof ArrayBuffer ? new Uint8Array(body)
      : new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  let timestamp = null;
  const candidates = [];
  for (const part of String(signature).split(',')) {
    const i = part.indexOf('=');
    const key = part.slice(0, i).trim();
    const value = part.slice(i + 1).trim();
    if (key === 't' && /^[0-9]+$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && value) candidates.push(value); // several while a secret is rotated
  }
  if (timestamp === null || candidates.length === 0) {
    throw new InvalidSignature(`malformed ${SIGNATURE_HEADER}: expected t=<unix seconds>,v1=<hex>`);
  }
  const age = (now ?? Date.now() / 1000) - timestamp;
  if (Math.abs(age) > tolerance) {
    throw new InvalidSignature(`signature is ${Math.round(age)} s old, beyond the tolerance of ${tolerance} s`);
  }
  const prefix = new TextEncoder().encode(`${timestamp}.`);
  const data = new Uint8Array(prefix.length + raw.length);
  data.set(prefix, 0);
  data.set(raw, prefix.length);
  const expected = await hmacSha256Hex(secret, data);
  if (!candidates.some((c) => sameText(expected, c))) {
    throw new InvalidSignature('signature does not match the body and the secret');
  }
  return timestamp;
}

// ---------------------------------------------------------------- base64 and images

/** Bytes -> base64, with Buffer in Node and btoa in browsers. */
export function bytesToBase64(bytes) {
  const B = globalThis.Buffer;
  if (typeof B === 'function' && typeof B.from === 'function') {
    return B.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  }
  let out = '';
  const CHUNK = 3 * 8192; // a multiple of 3, so the base64 of chunks concatenates without padding
  for (let i = 0; i < bytes.length; i += CHUNK) {
    const sub = bytes.subarray(i, i + CHUNK);
    let s = '';
    for (let j = 0; j < sub.length; j++) s += String.fromCharCode(sub[j]);
    out += btoa(s);
  }
  return out;
}

/** base64 (optionally a data: URL) -> bytes. */
export function base64ToBytes(b64) {
  const s = stripDataUrl(b64);
  const B = globalThis.Buffer;
  if (typeof B === 'function' && typeof B.from === 'function') {
    const buf = B.from(s, 'base64');
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  const bin = atob(s.replace(/\s+/g, ''));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function stripDataUrl(s) {
  const m = /^data:[^,]*;base64,/i.exec(s);
  return m ? s.slice(m[0].length) : s;
}

/**
 * An image given as Uint8Array (Buffer), any ArrayBufferView, ArrayBuffer, Blob, or a base64
 * string (a data: URL prefix allowed; passed through unchanged) -> the base64 string sent in JSON.
 * @returns {Promise<string>}
 */
export async function toBase64(image) {
  if (image == null) throw new TypeError('an image is required');
  if (typeof image === 'string') return image;
  if (image instanceof ArrayBuffer) return bytesToBase64(new Uint8Array(image));
  if (ArrayBuffer.isView(image)) {
    return bytesToBase64(new Uint8Array(image.buffer, image.byteOffset, image.byteLength));
  }
  if (typeof Blob !== 'undefined' && image instanceof Blob) {
    return bytesToBase64(new Uint8Array(await image.arrayBuffer()));
  }
  if (typeof image.arrayBuffer === 'function') { // Blob-like from another realm
    return bytesToBase64(new Uint8Array(await image.arrayBuffer()));
  }
  throw new TypeError('image must be a Uint8Array, ArrayBuffer, Blob or base64 string');
}

/** An image given as bytes, ArrayBuffer or Blob -> a Blob for a multipart file part. */
async function toBlob(image) {
  if (typeof Blob !== 'undefined' && image instanceof Blob) return image;
  if (image instanceof ArrayBuffer) return new Blob([image]);
  if (ArrayBuffer.isView(image)) return new Blob([new Uint8Array(image.buffer, image.byteOffset, image.byteLength)]);
  if (image && typeof image.arrayBuffer === 'function') return new Blob([await image.arrayBuffer()]);
  throw new TypeError('image must be a Uint8Array, ArrayBuffer, Blob or base64 string');
}

function randomId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c && typeof c.getRandomValues === 'function') c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const h = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function numberHeader(headers, name) {
  const v = headers.get(name);
  if (v == null || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** Turn an image response into the result object the image methods return. */
async function imageResult(res) {
  const bytes = new Uint8Array(await res.arrayBuffer());
  const h = res.headers;
  const mediaType = (h.get('content-type') || 'application/octet-stream').split(';')[0].trim();
  const ts = h.get('x-timestamp');
  let blob = null;
  return {
    bytes,
    mediaType,
    get blob() {
      if (blob === null) blob = new Blob([bytes], { type: mediaType });
      return blob;
    },
    processingTime: numberHeader(h, 'x-processing-time'),
    regionsCount: numberHeader(h, 'x-regions-count'),
    totalArea: numberHeader(h, 'x-total-area'),
    maskArea: numberHeader(h, 'x-mask-area'),
    textLinesDetected: numberHeader(h, 'x-text-lines-detected'),
    textLinesRead: numberHeader(h, 'x-text-lines-read'),
    textLinesRemoved: numberHeader(h, 'x-text-lines-removed'),
    textLinesPartlyRemoved: numberHeader(h, 'x-text-lines-partly-removed'),
    textLinesKept: numberHeader(h, 'x-text-lines-kept'),
    textPatternsUnmatched: numberHeader(h, 'x-text-patterns-unmatched'),
    regionsOutsideImage: numberHeader(h, 'x-regions-outside-image'),
    maskScaledFrom: h.get('x-mask-scaled-from'),
    regionsChecked: numberHeader(h, 'x-regions-checked'),
    regionsRepaired: numberHeader(h, 'x-regions-repaired'),
    residualText: numberHeader(h, 'x-residual-text'),
    timestamp: ts,
    taskId: h.get('x-task-id'),
    headers: h,
  };
}

/** A comma-separated per-line header (replace-text) as an array; [] when absent. */
function perLine(headers, name, read) {
  const v = headers.get(name);
  return v == null || v.trim() === '' ? [] : v.split(',').map((part) => read(part.trim()));
}

/** replace-text's image answer: the image result plus what each line got. */
async function replaceResult(res) {
  const r = await imageResult(res);
  const h = res.headers;
  r.linesWritten = numberHeader(h, 'x-lines-written');
  r.fontSizes = perLine(h, 'x-font-sizes', (v) => (v === '-' || !Number.isFinite(Number(v)) ? null : Number(v)));
  r.shrunk = perLine(h, 'x-text-shrunk', (v) => v.toLowerCase() === 'true');
  r.truncated = perLine(h, 'x-text-truncated', (v) => v.toLowerCase() === 'true');
  return r;
}

/** Whether `v` is a request object `{image, ...}` rather than an image. */
function isRequest(v) {
  return v != null && typeof v === 'object' && !(v instanceof ArrayBuffer) && !ArrayBuffer.isView(v)
    && !(typeof Blob !== 'undefined' && v instanceof Blob) && 'image' in v;
}

/** replaceText(request, opts) or replaceText(image, lines, options) -> [params, opts]. */
function replaceArgs(name, a, b, c) {
  const [params, opts] = isRequest(a) ? [a, b ?? {}] : [{ ...(c ?? {}), image: a, lines: b }, {}];
  if (!Array.isArray(params.lines)) {
    throw new TypeError(`${name} needs lines: an array of {region, text, style?, align?}`);
  }
  return [params, opts];
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(signal.reason ?? new Error('aborted')); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Combine a caller's signal with a timeout (AbortSignal.any is Node 20+ only). */
function combineSignals(signal, timeoutMs) {
  if (!timeoutMs) return { signal, done() {} };
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new ServiceError(`request timed out after ${timeoutMs} ms`,
    { code: 'client_timeout' })), timeoutMs);
  const onAbort = () => ctl.abort(signal.reason);
  if (signal) {
    if (signal.aborted) ctl.abort(signal.reason);
    else signal.addEventListener('abort', onAbort, { once: true });
  }
  return {
    signal: ctl.signal,
    done() { clearTimeout(timer); signal?.removeEventListener('abort', onAbort); },
  };
}

// ---------------------------------------------------------------- progress streams

/**
 * Messages from one progress WebSocket, as an async iterator. Messages are buffered from the
 * moment the socket opens, so nothing is lost between opening it and iterating. The iterator
 * ends after the task's final message (task_completed / task_failed / task_cancelled), and the
 * socket is then closed with 1000. `ready` resolves once the server confirms the subscription
 * (`task_subscribed`): on the general channel, submit only after that.
 */
export class ProgressStream {
  /** @param {any} WS @param {string} url @param {{taskId: string, subscribe: boolean, signal?: AbortSignal}} o */
  constructor(WS, url, { taskId, subscribe, signal }) {
    this.taskId = taskId;
    this.url = url;
    this.connectionId = null;
    this._queue = [];
    this._waiters = [];
    this._ended = false;
    this._error = null;
    this._finalSeen = false;
    let resolveReady, rejectReady;
    this.ready = new Promise((res, rej) => { resolveReady = res; rejectReady = rej; });
    this.ready.catch(() => {}); // a caller that never awaits `ready` gets the error from the iterator
    this._resolveReady = resolveReady;
    this._rejectReady = rejectReady;
    this._subscribed = false;

    const ws = new WS(url);
    this._ws = ws;
    const on = (type, fn) => {
      if (typeof ws.addEventListener === 'function') ws.addEventListener(type, fn);
      else ws[`on${type}`] = fn;
    };
    on('open', () => {
      if (subscribe) this.send({ type: 'subscribe_task', task_id: taskId });
    });
    on('message', (ev) => { this._onData(ev && 'data' in ev ? ev.data : ev); });
    on('error', (ev) => {
      const err = ev && ev.error instanceof Error ? ev.error : null;
      this._fail(new ServiceError(`progress WebSocket error${err ? `: ${err.message}` : ''}`,
        { code: 'connection_error', cause: err ?? undefined }));
    });
    on('close', (ev) => {
      if (this._finalSeen || this._ended) return this._finish();
      const code = ev && typeof ev.code === 'number' ? ev.code : 0;
      this._fail(new ServiceError(`progress WebSocket closed (code ${code}) before the task ended`,
        { code: 'connection_closed', detail: { closeCode: code, reason: ev?.reason ?? '' } }));
    });
    if (signal) {
      const onAbort = () => { this._fail(signal.reason ?? new Error('aborted')); this._close(1000); };
      if (signal.aborted) queueMicrotask(onAbort);
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  }

  /** Send a client message, e.g. `{type: 'get_task_status', task_id}` or `{type: 'cancel_task', task_id}`. */
  send(msg) {
    this._ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** Close the connection; the iterator ends (without an error). */
  close() {
    this._ended = true;
    this._close(1000);
    this._finish();
  }

  _close(code) {
    try {
      const state = this._ws.readyState;
      if (state === 0 || state === 1) this._ws.close(code);
    } catch { /* already closed */ }
  }

  async _onData(data) {
    let text = data;
    if (typeof text !== 'string') {
      if (typeof Blob !== 'undefined' && text instanceof Blob) text = await text.text();
      else if (text instanceof ArrayBuffer || ArrayBuffer.isView(text)) text = new TextDecoder().decode(text);
      else text = String(text);
    }
    let msg;
    try { msg = JSON.parse(text); } catch { return; }
    if (!msg || typeof msg !== 'object') return;
    this._onMessage(msg);
  }

  _onMessage(msg) {
    if (this._ended) return;
    if (msg.type === 'connection_established') this.connectionId = msg.connection_id ?? null;
    if (msg.type === 'task_subscribed' && msg.task_id === this.taskId && !this._subscribed) {
      this._subscribed = true;
      this._resolveReady(msg);
    }
    if (msg.type === 'error' && !this._subscribed && msg.task_id === this.taskId) {
      const err = new ServiceError(`subscription refused: ${msg.message}`, { code: 'subscribe_failed', detail: msg.message, body: msg });
      this._push(msg);
      this._fail(err);
      this._close(1000);
      return;
    }
    this._push(msg);
    if (FINAL_TYPES.has(msg.type) && msg.task_id === this.taskId) {
      this._finalSeen = true;
      this._ended = true;
      this._close(1000);
      this._finish();
    }
  }

  _push(msg) {
    const w = this._waiters.shift();
    if (w) w.resolve({ value: msg, done: false });
    else this._queue.push(msg);
  }

  _fail(err) {
    if (this._ended) return;
    this._ended = true;
    this._error = err;
    this._rejectReady(err);
    this._flushWaiters();
  }

  _finish() {
    this._ended = true;
    this._rejectReady(new ServiceError('progress stream ended before the subscription was confirmed',
      { code: 'connection_closed' }));
    this._flushWaiters();
  }

  _flushWaiters() {
    while (this._waiters.length) {
      const w = this._waiters.shift();
      if (this._queue.length) w.resolve({ value: this._queue.shift(), done: false });
      else if (this._error) w.reject(this._error);
      else w.resolve({ value: undefined, done: true });
    }
  }

  /** @returns {Promise<IteratorResult<any>>} */
  next() {
    if (this._queue.length) return Promise.resolve({ value: this._queue.shift(), done: false });
    if (this._ended) {
      if (this._error) {
        const e = this._error;
        this._error = null; // reported once
        return Promise.reject(e);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => this._waiters.push({ resolve, reject }));
  }

  /** Called by `break` in a for-await loop: closes the socket. */
  return() {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator]() { return this; }
}

// ---------------------------------------------------------------- the client

export class TextRemovalClient {
  /**
   * @param {{baseUrl?: string, apiKey?: string, authScheme?: 'x-api-key'|'bearer', fetch?: typeof fetch,
   *          WebSocket?: any, headers?: Record<string,string>, timeout?: number}} [options]
   */
  constructor(options = {}) {
    const base = options.baseUrl ?? 'http://localhost:8081';
    this.baseUrl = base.replace(/\/+$/, '');
    this.apiKey = options.apiKey ?? null;
    this.authScheme = options.authScheme ?? 'x-api-key';
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new TypeError('no fetch available: pass options.fetch');
    this._fetch = options.fetch ? f : f.bind(globalThis); // a bare window.fetch throws "Illegal invocation"
    // `WebSocket: null` turns WebSockets off (remove() then polls task-status)
    this._WebSocket = 'WebSocket' in options ? options.WebSocket || null : globalThis.WebSocket ?? null;
    this.headers = { ...(options.headers ?? {}) };
    this.timeout = options.timeout ?? 0;
    // 'multipart' (default): images travel as files, no base64; 'json': base64 in JSON bodies
    this.transport = options.transport ?? 'multipart';
    if (!['multipart', 'json'].includes(this.transport)) throw new TypeError("transport must be 'multipart' or 'json'");
  }

  // ------------------------------------------------------------ plumbing

  _url(path) {
    return this.baseUrl + path;
  }

  _authHeaders() {
    if (!this.apiKey) return {};
    return this.authScheme === 'bearer'
      ? { Authorization: `Bearer ${this.apiKey}` }
      : { 'X-API-Key': this.apiKey };
  }

  /** ws(s)://<baseUrl host>/api/v1/ws/progress[/<taskId>][?api_key=...] */
  websocketUrl(taskId) {
    const u = new URL(this._url('/api/v1/ws/progress' + (taskId ? `/${encodeURIComponent(taskId)}` : '')));
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this.apiKey) u.searchParams.set('api_key', this.apiKey);
    return u.toString();
  }

  /**
   * One HTTP request; `read(res)` reads the answer while the timeout still applies. Throws
   * ServiceError for a non-2xx answer (unless `allow` lists the status).
   */
  async _request(method, path, { json, form, signal, timeout, allow } = {}, read = (r) => r.json()) {
    const headers = { Accept: 'application/json, image/*, */*', ...this.headers, ...this._authHeaders() };
    const init = { method, headers };
    if (form !== undefined) {
      init.body = form; // fetch sets multipart/form-data with its boundary
    } else if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(json);
    }
    const sig = combineSignals(signal, timeout ?? this.timeout);
    if (sig.signal) init.signal = sig.signal;
    const fail = (e) => {
      if (e instanceof ServiceError) return e;
      if (sig.signal?.aborted && sig.signal.reason instanceof ServiceError) return sig.signal.reason;
      if (e && e.name === 'AbortError') return e;
      if (e && e.name === 'SyntaxError') {
        return new ServiceError(`${method} ${path}: the answer is not valid JSON`, { code: 'invalid_response', cause: e });
      }
      return new ServiceError(`${method} ${path} failed: ${e?.message ?? e}`, { code: 'network_error', cause: e });
    };
    try {
      let res;
      try {
        const f = this._fetch;
        res = await f(this._url(path), init);
      } catch (e) {
        throw fail(e);
      }
      if (!res.ok && !(allow && allow.includes(res.status))) throw await errorFrom(res, method, path);
      try {
        return await read(res);
      } catch (e) {
        throw fail(e);
      }
    } finally {
      sig.done();
    }
  }

  _json(method, path, opts) {
    return this._request(method, path, opts);
  }

  _image(method, path, opts) {
    return this._request(method, path, opts, imageResult);
  }

  /** The JSON body of an inpainting request: image/mask to base64, camelCase options to snake_case. */
  async _body(params, { requireImage = true } = {}) {
    const body = {};
    for (const [k, v] of Object.entries(params ?? {})) {
      if (v === undefined || k === 'signal' || k === 'timeout' || k === 'onProgress') continue;
      const key = CAMEL_TO_SNAKE[k] ?? k;
      body[key] = field(key, v);
    }
    if (requireImage || body.image !== undefined) body.image = await toBase64(body.image);
    if (body.mask != null) body.mask = await toBase64(body.mask);
    return body;
  }

  /**
   * The body of a route that takes files (API.md): multipart/form-data with the image and mask as
   * files by default; base64 JSON with `transport: 'json'`, or where the caller gave base64 strings.
   */
  async _payload(params) {
    const images = [params?.image, params?.mask].filter((v) => v != null);
    if (this.transport !== 'multipart' || images.some((v) => typeof v === 'string')) {
      return { json: await this._body(params) };
    }
    const form = new FormData();
    for (const [k, v] of Object.entries(params ?? {})) {
      if (v === undefined || v === null || k === 'signal' || k === 'timeout' || k === 'onProgress') continue;
      const key = CAMEL_TO_SNAKE[k] ?? k;
      if (key === 'image' || key === 'mask') form.append(key, await toBlob(v), key);
      else {
        const value = field(key, v);
        form.append(key, typeof value === 'object' ? JSON.stringify(value) : String(value));
      }
    }
    if (params?.image == null) throw new TypeError('an image is required');
    return { form };
  }

  // ------------------------------------------------------------ service information

  /** GET / */
  root(opts = {}) { return this._json('GET', '/', opts); }

  /**
   * GET /api/v1/health. Answers the body also while the service is starting or broken (HTTP 503),
   * so check `status === "healthy"`.
   */
  health(opts = {}) {
    return this._request('GET', '/api/v1/health', { ...opts, allow: [503] }, async (res) => {
      const body = await res.json().catch(() => null);
      if (res.status === 503 && (!body || typeof body.status !== 'string')) {
        throw new ServiceError('GET /api/v1/health: 503 service unavailable', {
          status: 503, code: body?.error ?? 'unavailable', detail: body?.detail, body, headers: res.headers,
        });
      }
      return body;
    });
  }

  /** Poll /api/v1/health until `status` is "healthy" (network errors count as not yet). */
  async waitUntilHealthy({ timeout = 120000, interval = 500, signal } = {}) {
    const deadline = Date.now() + timeout;
    let last = null;
    for (;;) {
      try {
        last = await this.health({ signal, timeout: Math.max(1000, Math.min(10000, deadline - Date.now())) });
        if (last?.status === 'healthy') return last;
      } catch (e) {
        if (signal?.aborted) throw e;
        if (e instanceof ServiceError && e.status >= 400 && e.status < 500) throw e; // e.g. 401: never healthy
        last = e;
      }
      if (Date.now() >= deadline) {
        throw new ServiceError(`service not healthy after ${timeout} ms`, {
          code: 'not_healthy', body: last instanceof Error ? null : last, cause: last instanceof Error ? last : undefined,
        });
      }
      await sleep(interval, signal);
    }
  }

  /** GET /api/v1/model */
  model(opts = {}) { return this._json('GET', '/api/v1/model', opts); }

  /** GET /api/v1/info */
  info(opts = {}) { return this._json('GET', '/api/v1/info', opts); }

  // ------------------------------------------------------------ synchronous inpainting

  /** POST /api/v1/inpaint: repaint the white pixels of `mask`. */
  async inpaint(params, opts = {}) {
    if (params?.mask == null) throw new TypeError('inpaint needs a mask');
    return this._image('POST', '/api/v1/inpaint', { ...pickOpts(params, opts), ...(await this._payload(params)) });
  }

  /** POST /api/v1/inpaint-regions: the image, with X-Processing-Time etc. parsed. */
  async inpaintRegions(params, opts = {}) {
    return this._image('POST', '/api/v1/inpaint-regions', { ...pickOpts(params, opts), ...(await this._payload(params)) });
  }

  /** POST /api/v1/inpaint-regions-json: `{success, message, processing_stats, timestamp}`. */
  async inpaintRegionsJson(params, opts = {}) {
    return this._json('POST', '/api/v1/inpaint-regions-json', { ...pickOpts(params, opts), ...(await this._payload(params)) });
  }

  /** POST /api/v1/detect-text: every text line, as polygons that can be sent back as regions. */
  async detectText(params, opts = {}) {
    return this._json('POST', '/api/v1/detect-text', { ...pickOpts(params, opts), ...(await this._payload(params)) });
  }

  // ------------------------------------------------------------ rewriting text

  /**
   * POST /api/v1/replace-text: each line's old text removed and its new text written in its place,
   * the way the old text looked. `replaceText({image, lines, ...params})` or
   * `replaceText(image, lines, {...params})`; a line is `{region, text, style?, align?}`. Answers
   * the image result plus `linesWritten`, `fontSizes` (px per line, null for an empty text) and
   * `shrunk` (per line: made smaller to fit its box).
   */
  async replaceText(image, lines, options) {
    const [params, opts] = replaceArgs('replaceText', image, lines, options);
    return this._request('POST', '/api/v1/replace-text',
      { ...pickOpts(params, opts), ...(await this._payload(params)) }, replaceResult);
  }

  /**
   * POST /api/v1/replace-text-json: as replaceText; answers `{success, message, lines: [{font,
   * font_size, shrunk, wanted_size, style}], processing_stats, timestamp}`.
   */
  async replaceTextJson(image, lines, options) {
    const [params, opts] = replaceArgs('replaceTextJson', image, lines, options);
    return this._json('POST', '/api/v1/replace-text-json', { ...pickOpts(params, opts), ...(await this._payload(params)) });
  }

  /** GET /api/v1/fonts: `{fonts: [{name, family, bold, kind}]}`, what a line's style.font may name. */
  fonts(opts = {}) { return this._json('GET', '/api/v1/fonts', opts); }

  // ------------------------------------------------------------ asynchronous tasks

  /**
   * POST /api/v1/inpaint-regions-async. `taskId`, `callbackUrl`, `enableProgress`,
   * `progressInterval` (or their snake_case names) travel as the API's fields.
   */
  async submit(params, opts = {}) {
    return this._json('POST', '/api/v1/inpaint-regions-async', { ...pickOpts(params, opts), ...(await this._payload(params)) });
  }

  /**
   * POST /api/v1/inpaint-batch-async: several images as one task. `items` are
   * `{image, regions?, mask?, detect?, name?}`; `options` the shared parameters and task options.
   */
  async submitBatch(items, options = {}, opts = {}) {
    if (!Array.isArray(items) && items && Array.isArray(items.items)) {
      const { items: list, ...rest } = items;
      return this.submitBatch(list, rest, options);
    }
    if (!Array.isArray(items) || items.length === 0) throw new TypeError('submitBatch needs a non-empty array of items');
    const body = await this._body(options, { requireImage: false });
    body.items = await Promise.all(items.map((it) => this._body(it)));
    return this._json('POST', '/api/v1/inpaint-batch-async', { ...pickOpts(options, opts), json: body });
  }

  /** GET /api/v1/task-status/{id} */
  taskStatus(taskId, opts = {}) { return this._json('GET', `/api/v1/task-status/${encodeURIComponent(taskId)}`, opts); }

  /** POST /api/v1/cancel-task/{id} */
  cancelTask(taskId, opts = {}) { return this._json('POST', `/api/v1/cancel-task/${encodeURIComponent(taskId)}`, opts); }

  /** GET /api/v1/task-result/{id}: the image (a ZIP for a batch). 409 code task_not_finished until done. */
  taskResult(taskId, opts = {}) { return this._image('GET', `/api/v1/task-result/${encodeURIComponent(taskId)}`, opts); }

  /** GET /api/v1/task-result/{id}/{index}: one item of a finished batch. */
  taskItemResult(taskId, index, opts = {}) {
    return this._image('GET', `/api/v1/task-result/${encodeURIComponent(taskId)}/${Number(index)}`, opts);
  }

  /** GET /api/v1/tasks */
  tasks(opts = {}) { return this._json('GET', '/api/v1/tasks', opts); }

  /** Poll task-status until the task ends; answers the final status (no WebSocket needed). */
  async waitForTask(taskId, { interval = 250, timeout = 0, signal, onProgress } = {}) {
    const deadline = timeout ? Date.now() + timeout : Infinity;
    for (;;) {
      const st = await this.taskStatus(taskId, { signal });
      onProgress?.(st);
      if (['completed', 'error', 'cancelled'].includes(st.status)) return st;
      if (Date.now() >= deadline) throw new ServiceError(`task ${taskId} still ${st.status} after ${timeout} ms`, { code: 'client_timeout', body: st });
      await sleep(interval, signal);
    }
  }

  // ------------------------------------------------------------ WebSocket progress

  _ws() {
    if (!this._WebSocket) {
      throw new TypeError('no WebSocket implementation: pass options.WebSocket (e.g. `import WebSocket from "ws"` on Node < 22)');
    }
    return this._WebSocket;
  }

  /**
   * Progress of one task over WS /api/v1/ws/progress/{taskId} (subscribed from the start, so it
   * may be opened before the task is submitted). Yields every server message; ends after the
   * task's final message.
   * @returns {ProgressStream}
   */
  progress(taskId, { signal } = {}) {
    if (!taskId) throw new TypeError('progress needs a task id');
    return new ProgressStream(this._ws(), this.websocketUrl(taskId), { taskId, subscribe: false, signal });
  }

  /**
   * Subscribe on the general channel (WS /api/v1/ws/progress, then `subscribe_task`). Await
   * `stream.ready` before submitting the task with the same `taskId`.
   * @returns {ProgressStream}
   */
  watch(taskId, { signal } = {}) {
    if (!taskId) throw new TypeError('watch needs a task id');
    return new ProgressStream(this._ws(), this.websocketUrl(), { taskId, subscribe: true, signal });
  }

  // ------------------------------------------------------------ convenience

  /**
   * Submit a task and wait for its image: subscribes first (WebSocket, if one is available and
   * connects; otherwise, or if it breaks, polls task-status), calls `onProgress(message)` for each
   * progress update (a task-status answer when polling), and
   * answers the result (as `taskResult`) plus `taskId`. A failed or cancelled task throws a
   * ServiceError with code `task_failed` / `task_cancelled`. Aborting `signal` cancels the task.
   */
  async remove(params, opts = {}) {
    const { onProgress, signal, ...rest } = params ?? {};
    const taskId = rest.taskId ?? rest.task_id ?? randomId();
    delete rest.task_id;
    rest.taskId = taskId;
    const sig = signal ?? opts.signal;
    let submitted = false;
    const onAbort = () => { if (submitted) this.cancelTask(taskId).catch(() => {}); };
    sig?.addEventListener('abort', onAbort, { once: true });
    const failed = (error, body) => new ServiceError(`task ${taskId} failed: ${error}`, { code: 'task_failed', detail: error, body });
    const cancelled = (body) => new ServiceError(`task ${taskId} was cancelled`, { code: 'task_cancelled', body });
    try {
      let final = null;
      let stream = this._WebSocket ? this.watch(taskId, { signal: sig }) : null;
      if (stream) {
        try {
          await stream.ready;
        } catch (e) { // no WebSocket to be had (a proxy, say): poll instead
          stream.close();
          if (!(e instanceof ServiceError && e.status === 0) || sig?.aborted) throw e;
          stream = null;
        }
      }
      if (stream) {
        try {
          await this.submit(rest, { signal: sig });
          submitted = true;
          for await (const msg of stream) {
            if (msg.type === 'progress_update' && msg.task_id === taskId) onProgress?.(msg);
            if (FINAL_TYPES.has(msg.type) && msg.task_id === taskId) final = msg;
          }
        } catch (e) {
          // the progress connection broke after the submit: follow the task by polling instead
          if (!(submitted && e instanceof ServiceError && e.status === 0 && !sig?.aborted)) throw e;
        } finally {
          stream.close();
        }
        if (final?.type === 'task_failed') throw failed(final.error ?? final.error_message, final);
        if (final?.type === 'task_cancelled') throw cancelled(final);
      } else {
        await this.submit({ ...rest, enableProgress: false }, { signal: sig });
        submitted = true;
      }
      if (!final) {
        const st = await this.waitForTask(taskId, { signal: sig, onProgress });
        if (st.status === 'error') throw failed(st.error, st);
        if (st.status === 'cancelled') throw cancelled(st);
      }
      const result = await this.taskResult(taskId, { signal: sig });
      result.taskId = taskId;
      return result;
    } finally {
      sig?.removeEventListener('abort', onAbort);
    }
  }
}

function pickOpts(params, opts) {
  return {
    signal: opts.signal ?? params?.signal,
    timeout: opts.timeout ?? params?.timeout,
  };
}

async function errorFrom(res, method, path) {
  const text = await res.text().catch(() => '');
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  let detail = body && 'detail' in body ? body.detail : (text || res.statusText);
  const code = (body && typeof body.error === 'string' && body.error) || `http_${res.status}`;
  const errors = Array.isArray(body?.errors) ? body.errors : Array.isArray(detail) ? detail : null;
  const human = typeof detail === 'string' ? detail : JSON.stringify(detail);
  const ra = res.headers.get('retry-after');
  const retryAfter = ra != null && ra !== '' && Number.isFinite(Number(ra)) ? Number(ra) : null;
  return new ServiceError(`${method} ${path}: ${res.status} ${code}: ${human}`, {
    status: res.status, code, detail, body, headers: res.headers, retryAfter, errors,
  });
}

export default TextRemovalClient;
