import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { service } from './helpers.js';

let svc;
before(async () => { svc = await service(); });
after(async () => { await svc?.done(); });

test('health is healthy, with the documented fields', async () => {
  const h = await svc.client.health();
  assert.equal(h.status, 'healthy');
  assert.equal(typeof h.message, 'string');
  assert.equal(typeof h.version, 'string');
  assert.ok(!Number.isNaN(Date.parse(h.timestamp)), `timestamp ${h.timestamp}`);
});

test('waitUntilHealthy answers at once on a healthy service', async () => {
  const h = await svc.client.waitUntilHealthy({ timeout: 5000 });
  assert.equal(h.status, 'healthy');
});

test('model() names the active model', async () => {
  const m = await svc.client.model();
  assert.equal(m.name, 'cv2');
  assert.equal(typeof m.device, 'string');
  assert.equal(typeof m.status, 'string');
  assert.equal(typeof m.parameters, 'object');
});

test('info() has capabilities and limits', async () => {
  const i = await svc.client.info();
  assert.equal(typeof i.name, 'string');
  assert.equal(typeof i.version, 'string');
  assert.equal(i.model.name, 'cv2');
  assert.ok(Array.isArray(i.capabilities));
  for (const c of ['inpaint-regions', 'async-tasks', 'websocket-progress']) assert.ok(i.capabilities.includes(c), c);
  assert.equal(typeof i.limits.max_image_size, 'number');
  assert.equal(typeof i.limits.max_file_size, 'number');
  assert.equal(typeof i.limits.request_timeout, 'number');
});

test('root() points at docs and health', async () => {
  const r = await svc.client.root();
  assert.equal(r.status, 'running');
  assert.equal(r.docs, '/docs');
  assert.equal(r.health, '/api/v1/health');
});
