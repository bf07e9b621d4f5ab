// No service needed: an injected fetch and a fake WebSocket check what the client sends.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import TextRemovalClientDefault, {
  ServiceError, TextRemovalClient, base64ToBytes, bytesToBase64, toBase64,
} from '../src/index.js';

function fakeFetch(answer = () => new Response('{"ok":true}', { headers: { 'content-type': 'application/json' } })) {
  const calls = [];
  const f = async (url, init) => { calls.push({ url, init, body: typeof init.body === 'string' ? JSON.parse(init.body) : init.body }); return answer(url, init); };
  return { f, calls };
}

class FakeWS {
  static last = null;
  constructor(url) {
    this.url = url; this.readyState = 0; this.sent = []; this.listeners = {};
    FakeWS.last = this;
    queueMicrotask(() => { this.readyState = 1; this.emit('open', {}); });
  }
  addEventListener(t, fn) { (this.listeners[t] ??= []).push(fn); }
  emit(t, ev) { for (const fn of this.listeners[t] ?? []) fn(ev); }
  send(s) { this.sent.push(JSON.parse(s)); }
  close(code) { this.readyState = 3; this.closedWith = code; this.emit('close', { code }); }
  serverSays(msg) { this.emit('message', { data: JSON.stringify({ timestamp: 't', ...msg }) }); }
}

test('default export is the client', () => {
  assert.equal(TextRemovalClientDefault, TextRemovalClient);
});

test('API key goes in X-API-Key (or Bearer) and in ?api_key= for WebSockets', async () => {
  const { f, calls } = fakeFetch();
  const c = new TextRemovalClient({ baseUrl: 'https://svc.example:8443/base/', apiKey: 'k&1', fetch: f, headers: { 'X-Trace': 'x' } });
  await c.info();
  assert.equal(calls[0].url, 'https://svc.example:8443/base/api/v1/info');
  assert.equal(calls[0].init.headers['X-API-Key'], 'k&1');
  assert.equal(calls[0].init.headers['X-Trace'], 'x');
  assert.equal(c.websocketUrl('a b'), 'wss://svc.example:8443/base/api/v1/ws/progress/a%20b?api_key=k%261');
  assert.equal(c.websocketUrl(), 'wss://svc.example:8443/base/api/v1/ws/progress?api_key=k%261');

  const b = new TextRemovalClient({ baseUrl: 'http://h', apiKey: 'k', authScheme: 'bearer', fetch: f });
  await b.tasks();
  assert.equal(calls[1].init.headers.Authorization, 'Bearer k');
  assert.equal(calls[1].init.headers['X-API-Key'], undefined);
  assert.equal(new TextRemovalClient({ baseUrl: 'http://h', fetch: f }).websocketUrl('t'), 'ws://h/api/v1/ws/progress/t');
});

const SUBMIT = {
  image: new Uint8Array([1, 2, 3]), mask: new Uint8Array([4]).buffer, regions: [{ x: 1, y: 2, width: 3, height: 4 }],
  taskId: 'T', callbackUrl: 'http://cb', enableProgress: false, progressInterval: 0.5, maskMode: 'text',
  sd_seed: 7, undefinedField: undefined, signal: undefined,
};

test('submit (default transport): image and mask as multipart files, options as form fields', async () => {
  const { f, calls } = fakeFetch();
  const c = new TextRemovalClient({ baseUrl: 'http://h', fetch: f });
  await c.submit(SUBMIT);
  const { url, init, body } = calls[0];
  assert.equal(url, 'http://h/api/v1/inpaint-regions-async');
  assert.equal(init.headers['Content-Type'], undefined); // fetch adds the multipart boundary
  assert.ok(body instanceof FormData);
  assert.deepEqual([...new Uint8Array(await body.get('image').arrayBuffer())], [1, 2, 3]);
  assert.deepEqual([...new Uint8Array(await body.get('mask').arrayBuffer())], [4]);
  const fields = Object.fromEntries([...body.entries()].filter(([k]) => k !== 'image' && k !== 'mask'));
  assert.deepEqual(fields, {
    regions: '[{"x":1,"y":2,"width":3,"height":4}]', task_id: 'T', callback_url: 'http://cb',
    enable_progress: 'false', progress_interval: '0.5', mask_mode: 'text', sd_seed: '7',
  });
});

test('submit (transport json): image to base64, camelCase options to snake_case, other fields passed through', async () => {
  const { f, calls } = fakeFetch();
  const c = new TextRemovalClient({ baseUrl: 'http://h', fetch: f, transport: 'json' });
  await c.submit(SUBMIT);
  const { url, init, body } = calls[0];
  assert.equal(url, 'http://h/api/v1/inpaint-regions-async');
  assert.equal(init.method, 'POST');
  assert.equal(init.headers['Content-Type'], 'application/json');
  assert.deepEqual(body, {
    image: 'AQID', mask: 'BA==', regions: [{ x: 1, y: 2, width: 3, height: 4 }], task_id: 'T', callback_url: 'http://cb',
    enable_progress: false, progress_interval: 0.5, mask_mode: 'text', sd_seed: 7,
  });
});

test('removeText / keepText / recognize: snake_case, one string is one pattern, lists as JSON form fields', async () => {
  const { f, calls } = fakeFetch();
  const c = new TextRemovalClient({ baseUrl: 'http://h', fetch: f });
  await c.inpaintRegions({ image: new Uint8Array([1]), detect: true, removeText: '@email', keepText: ['ACME', 'x\\d'], recognize: true });
  const fields = Object.fromEntries([...calls[0].body.entries()].filter(([k]) => k !== 'image'));
  assert.deepEqual(fields, { detect: 'true', remove_text: '["@email"]', keep_text: '["ACME","x\\\\d"]', recognize: 'true' });
  const j = new TextRemovalClient({ baseUrl: 'http://h', fetch: f, transport: 'json' });
  await j.inpaintRegionsJson({ image: new Uint8Array([1]), detect: true, remove_text: ['@phone'], keepText: 'A' });
  assert.deepEqual(calls[1].body, { image: 'AQ==', detect: true, remove_text: ['@phone'], keep_text: ['A'] });
  await j.detectText({ image: new Uint8Array([1]), recognize: true });
  assert.deepEqual(calls[2].body, { image: 'AQ==', recognize: true });
});

test('submitBatch sends items with base64 images and shared options', async () => {
  const { f, calls } = fakeFetch();
  const c = new TextRemovalClient({ baseUrl: 'http://h', fetch: f });
  await c.submitBatch([{ image: 'QUJD', regions: [], detect: true, name: 'a' }, { image: new Blob([new Uint8Array([0])]) }], { taskId: 'B', padding: 3 });
  assert.deepEqual(calls[0].body, {
    task_id: 'B', padding: 3,
    items: [{ image: 'QUJD', regions: [], detect: true, name: 'a' }, { image: 'AA==' }],
  });
  await c.submitBatch({ items: [{ image: 'QUJD' }], taskId: 'C' });
  assert.deepEqual(calls[1].body, { task_id: 'C', items: [{ image: 'QUJD' }] });
  await assert.rejects(c.submitBatch([]), TypeError);
});

test('base64: the Buffer path and the btoa path agree, also for long input; data: URLs decode', async () => {
  const bytes = new Uint8Array(100003).map((_, i) => (i * 7919) & 0xff);
  const viaBuffer = bytesToBase64(bytes);
  const saved = globalThis.Buffer;
  let viaBtoa, back;
  try {
    globalThis.Buffer = undefined;
    viaBtoa = bytesToBase64(bytes);
    back = base64ToBytes(`data:image/png;base64,${viaBtoa}`);
  } finally {
    globalThis.Buffer = saved;
  }
  assert.equal(viaBtoa, viaBuffer);
  assert.deepEqual(back, bytes);
  assert.equal(await toBase64(new DataView(bytes.buffer, 1, 3)), bytesToBase64(bytes.subarray(1, 4)));
  assert.equal(await toBase64('already'), 'already');
  await assert.rejects(toBase64(42), TypeError);
  await assert.rejects(toBase64(null), TypeError);
});

test('an error answer becomes a ServiceError with status, code, detail, retryAfter', async () => {
  const { f } = fakeFetch(() => new Response(JSON.stringify({ detail: 'queue full', error: 'queue_full' }),
    { status: 503, headers: { 'content-type': 'application/json', 'retry-after': '3' } }));
  const c = new TextRemovalClient({ baseUrl: 'http://h', fetch: f });
  await assert.rejects(c.tasks(), (e) => {
    assert.ok(e instanceof ServiceError && e instanceof Error);
    assert.equal(e.name, 'ServiceError');
    assert.equal(e.status, 503);
    assert.equal(e.code, 'queue_full');
    assert.equal(e.detail, 'queue full');
    assert.equal(e.retryAfter, 3);
    return true;
  });
  // a non-JSON error body still gives a code
  const { f: g } = fakeFetch(() => new Response('bad gateway', { status: 502 }));
  await assert.rejects(new TextRemovalClient({ baseUrl: 'http://h', fetch: g }).info(),
    (e) => e.status === 502 && e.code === 'http_502' && e.detail === 'bad gateway');
});

test('health answers the body of a 503 (starting) instead of throwing', async () => {
  const { f } = fakeFetch(() => new Response(JSON.stringify({ status: 'starting', message: 'loading' }), { status: 503 }));
  const h = await new TextRemovalClient({ baseUrl: 'http://h', fetch: f }).health();
  assert.equal(h.status, 'starting');
});

test('a network failure is a ServiceError network_error; a timeout is client_timeout', async () => {
  const c = new TextRemovalClient({ baseUrl: 'http://h', fetch: async () => { throw new TypeError('fetch failed'); } });
  await assert.rejects(c.info(), (e) => e instanceof ServiceError && e.status === 0 && e.code === 'network_error');
  const slow = (url, init) => new Promise((_, rej) => init.signal.addEventListener('abort', () => rej(init.signal.reason)));
  const t = new TextRemovalClient({ baseUrl: 'http://h', fetch: slow, timeout: 30 });
  await assert.rejects(t.info(), (e) => e instanceof ServiceError && e.code === 'client_timeout');
});

test('image results parse the stats headers', async () => {
  const { f } = fakeFetch(() => new Response(new Uint8Array([9, 8, 7]), { headers: {
    'content-type': 'image/png', 'x-processing-time': '0.1234', 'x-regions-count': '2', 'x-total-area': '345',
    'x-timestamp': '2025-01-01T00:00:00+00:00', 'x-text-lines-read': '4', 'x-text-lines-removed': '2',
    'x-text-lines-partly-removed': '1', 'x-text-lines-kept': '1', 'x-text-patterns-unmatched': '0',
  } }));
  const r = await new TextRemovalClient({ baseUrl: 'http://h', fetch: f }).inpaintRegions({ image: 'AA==', regions: [] });
  assert.deepEqual([...r.bytes], [9, 8, 7]);
  assert.equal(r.mediaType, 'image/png');
  assert.equal(r.processingTime, 0.1234);
  assert.equal(r.regionsCount, 2);
  assert.equal(r.totalArea, 345);
  assert.equal(r.timestamp, '2025-01-01T00:00:00+00:00');
  assert.equal(r.textLinesDetected, null);
  assert.deepEqual([r.textLinesRead, r.textLinesRemoved, r.textLinesPartlyRemoved, r.textLinesKept, r.textPatternsUnmatched],
    [4, 2, 1, 1, 0]);
  assert.equal(r.blob.size, 3);
});

const LINES = [
  { region: { x: 1, y: 2, width: 30, height: 10 }, text: 'new', style: { text_color: '#ff0000', outline: null }, align: 'center' },
  { region: { points: [[0, 0], [9, 0], [9, 5], [0, 5]] }, text: '' },
];

test('replaceText: the image a multipart file, lines a JSON text part; positional and object forms agree', async () => {
  const { f, calls } = fakeFetch((url) => (url.endsWith('/replace-text')
    ? new Response(new Uint8Array([1]), { headers: { 'content-type': 'image/png' } })
    : new Response('{"fonts":[]}', { headers: { 'content-type': 'application/json' } })));
  const c = new TextRemovalClient({ baseUrl: 'http://h', fetch: f });
  await c.replaceText({ image: new Uint8Array([1, 2]), lines: LINES, padding: 2, verify: false, outputFormat: 'webp' });
  await c.replaceText(new Uint8Array([1, 2]), LINES, { padding: 2, verify: false, outputFormat: 'webp' });
  for (const { url, init, body } of calls) {
    assert.equal(url, 'http://h/api/v1/replace-text');
    assert.equal(init.method, 'POST');
    assert.ok(body instanceof FormData);
    assert.deepEqual([...new Uint8Array(await body.get('image').arrayBuffer())], [1, 2]);
    const fields = Object.fromEntries([...body.entries()].filter(([k]) => k !== 'image'));
    assert.deepEqual({ ...fields, lines: JSON.parse(fields.lines) },
      { lines: LINES, padding: '2', verify: 'false', output_format: 'webp' });
  }
  const j = new TextRemovalClient({ baseUrl: 'http://h', fetch: f, transport: 'json' });
  await j.replaceTextJson('QUJD', LINES, { maskMode: 'text' });
  assert.equal(calls[2].url, 'http://h/api/v1/replace-text-json');
  assert.deepEqual(calls[2].body, { image: 'QUJD', lines: LINES, mask_mode: 'text' });
  await j.fonts();
  assert.equal(calls[3].url, 'http://h/api/v1/fonts');
  assert.equal(calls[3].init.method, 'GET');
  await assert.rejects(c.replaceText(new Uint8Array([1])), TypeError); // no lines
  await assert.rejects(c.replaceTextJson({ image: new Uint8Array([1]), lines: 'x' }), TypeError);
});

test('replaceText results parse the per-line headers', async () => {
  const { f } = fakeFetch(() => new Response(new Uint8Array([7]), { headers: {
    'content-type': 'image/png', 'x-lines-written': '2', 'x-font-sizes': '30.1,-,12', 'x-text-shrunk': 'false,false,true',
    'x-regions-checked': '3', 'x-regions-repaired': '1', 'x-residual-text': '0.040',
  } }));
  const r = await new TextRemovalClient({ baseUrl: 'http://h', fetch: f }).replaceText('AA==', LINES);
  assert.equal(r.linesWritten, 2);
  assert.deepEqual(r.fontSizes, [30.1, null, 12]);
  assert.deepEqual(r.shrunk, [false, false, true]);
  assert.deepEqual([r.regionsChecked, r.regionsRepaired, r.residualText], [3, 1, 0.04]);
  assert.deepEqual([...r.bytes], [7]);
});

test('a 422 keeps its field errors: code and loc', async () => {
  const body = { detail: "lines[0].style.font: no font 'x' is installed", error: 'unknown_font',
    errors: [{ loc: ['lines', 0, 'style', 'font'], msg: "no font 'x' is installed", type: 'unknown_font' }] };
  const { f } = fakeFetch(() => new Response(JSON.stringify(body), { status: 422, headers: { 'content-type': 'application/json' } }));
  await assert.rejects(new TextRemovalClient({ baseUrl: 'http://h', fetch: f }).replaceText('AA==', LINES), (e) => {
    assert.ok(e instanceof ServiceError);
    assert.equal(e.status, 422);
    assert.equal(e.code, 'unknown_font');
    assert.deepEqual(e.errors[0].loc, ['lines', 0, 'style', 'font']);
    return true;
  });
});

test('watch(): subscribes on open, ready on task_subscribed, ends after the final message', async () => {
  const c = new TextRemovalClient({ baseUrl: 'http://h', apiKey: 'k', fetch: fakeFetch().f, WebSocket: FakeWS });
  const s = c.watch('T1');
  const ws = FakeWS.last;
  assert.equal(ws.url, 'ws://h/api/v1/ws/progress?api_key=k');
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(ws.sent, [{ type: 'subscribe_task', task_id: 'T1' }]);
  ws.serverSays({ type: 'connection_established', connection_id: 'c1', task_id: null });
  ws.serverSays({ type: 'task_subscribed', task_id: 'T1' });
  assert.equal((await s.ready).task_id, 'T1');
  assert.equal(s.connectionId, 'c1');
  ws.serverSays({ type: 'progress_update', task_id: 'T1', overall_progress: 50 });
  ws.serverSays({ type: 'task_completed', task_id: 'OTHER' }); // not ours: does not end the stream
  ws.serverSays({ type: 'task_completed', task_id: 'T1' });
  ws.serverSays({ type: 'progress_update', task_id: 'T1' }); // after the end: dropped
  const types = [];
  for await (const m of s) types.push(m.type);
  assert.deepEqual(types, ['connection_established', 'task_subscribed', 'progress_update', 'task_completed', 'task_completed']);
  assert.equal(ws.closedWith, 1000);
});

test('progress(): a connection lost before the final message throws connection_closed', async () => {
  const c = new TextRemovalClient({ baseUrl: 'http://h', fetch: fakeFetch().f, WebSocket: FakeWS });
  const s = c.progress('T2');
  const ws = FakeWS.last;
  assert.equal(ws.url, 'ws://h/api/v1/ws/progress/T2');
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(ws.sent, []); // the per-task path subscribes by itself
  ws.serverSays({ type: 'task_subscribed', task_id: 'T2' });
  ws.emit('close', { code: 1001 });
  assert.equal((await s.next()).value.type, 'task_subscribed');
  await assert.rejects(s.next(), (e) => e instanceof ServiceError && e.code === 'connection_closed');
  assert.equal((await s.next()).done, true);
});

test('a refused subscription rejects ready', async () => {
  const c = new TextRemovalClient({ baseUrl: 'http://h', fetch: fakeFetch().f, WebSocket: FakeWS });
  const s = c.watch('T3');
  const ws = FakeWS.last;
  await new Promise((r) => setTimeout(r, 0));
  ws.serverSays({ type: 'error', message: 'too many subscriptions on this connection', task_id: 'T3' });
  await assert.rejects(s.ready, (e) => e.code === 'subscribe_failed');
});

test('no WebSocket implementation: a clear TypeError', () => {
  const c = new TextRemovalClient({ baseUrl: 'http://h', fetch: fakeFetch().f, WebSocket: null });
  assert.throws(() => c.watch('x'), /WebSocket/);
});

test('remove(): a WebSocket that cannot connect falls back to polling task-status', async () => {
  class DeadWS extends FakeWS {
    constructor(url) { super(url); this.listeners = {}; queueMicrotask(() => { this.emit('error', {}); this.emit('close', { code: 1006 }); }); }
  }
  const answers = {
    'POST /api/v1/inpaint-regions-async': () => Response.json({ task_id: 'P', status: 'pending' }),
    'GET /api/v1/task-status/P': () => Response.json({ task_id: 'P', status: 'completed', overall_progress: 100 }),
    'GET /api/v1/task-result/P': () => new Response(new Uint8Array([1]), { headers: { 'content-type': 'image/png' } }),
  };
  const { f, calls } = fakeFetch((url, init) => answers[`${init.method} ${new URL(url).pathname}`]());
  const c = new TextRemovalClient({ baseUrl: 'http://h', fetch: f, WebSocket: DeadWS });
  const seen = [];
  const r = await c.remove({ image: 'AA==', regions: [{ x: 0, y: 0, width: 1, height: 1 }], taskId: 'P', onProgress: (s) => seen.push(s.status) });
  assert.equal(r.taskId, 'P');
  assert.deepEqual([...r.bytes], [1]);
  assert.deepEqual(seen, ['completed']);
  assert.equal(calls[0].body.task_id, 'P');
  assert.equal(calls[0].body.enable_progress, false);
});

test('verifySignature accepts the service signature and refuses wrong, malformed or old ones', async () => {
  const { createHmac } = await import('node:crypto');
  const { verifySignature, InvalidSignature } = await import('../src/index.js');
  const body = '{"task_id":"a","status":"completed"}';
  const t = 1700000000;
  const sign = (secret, b, ts) => `t=${ts},v1=${createHmac('sha256', secret).update(`${ts}.${b}`).digest('hex')}`;
  const good = sign('k', body, t);
  assert.equal(await verifySignature(body, good, 'k', { now: t + 10 }), t);
  assert.equal(await verifySignature(new TextEncoder().encode(body), good, 'k', { now: t }), t);
  assert.equal(await verifySignature(new TextEncoder().encode(body).buffer, good, 'k', { now: t }), t);
  assert.equal(await verifySignature(Buffer.from(body), `${sign('old', body, t)},v1=${good.split('v1=')[1]}`, 'k', { now: t }), t);
  const refused = [[good, t + 301], [good, t - 301], [sign('k', `${body} `, t), t], [sign('x', body, t), t],
    ['', t], [null, t], ['v1=abc', t], [`t=${t}`, t], ['t=soon,v1=ab', t], ['garbage', t]];
  for (const [sig, now] of refused) {
    await assert.rejects(verifySignature(body, sig, 'k', { now }), InvalidSignature, String(sig));
  }
  assert.equal(await verifySignature(body, good, 'k', { now: t + 3000, tolerance: 3600 }), t);
  await assert.rejects(verifySignature(body, good, '', { now: t }), TypeError);
});
