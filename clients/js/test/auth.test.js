import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { ServiceError, TextRemovalClient } from '../src/index.js';
import { WebSocket, encodePng, makeImage, service } from './helpers.js';

let svc, enforced;
before(async () => {
  svc = await service();
  const probe = await fetch(`${svc.url}/api/v1/tasks`);
  enforced = probe.status === 401;
});
after(async () => { await svc?.done(); });

const png = encodePng(makeImage(32, 32));

test('with the key (X-API-Key), requests and WebSockets work', async () => {
  assert.ok((await svc.client.tasks()).total_tasks >= 0);
  const s = svc.client.watch('auth-probe');
  await s.ready;
  s.close();
});

test('with the key as Authorization: Bearer, requests work', async () => {
  const c = new TextRemovalClient({ baseUrl: svc.url, apiKey: svc.apiKey, authScheme: 'bearer' });
  assert.ok((await c.tasks()).total_tasks >= 0);
});

test('without the key: 401 unauthorized, health still open, WebSocket refused', async (t) => {
  if (!svc.apiKey || !enforced) return t.skip('the service does not require an API key');
  const c = new TextRemovalClient({ baseUrl: svc.url, WebSocket });
  assert.equal((await c.health()).status, 'healthy');
  await assert.rejects(c.info(), (e) => e instanceof ServiceError && e.status === 401 && e.code === 'unauthorized');
  await assert.rejects(c.inpaintRegions({ image: png, regions: [{ x: 1, y: 1, width: 5, height: 5 }] }),
    (e) => e.status === 401);
  const s = c.watch('auth-probe-2');
  await assert.rejects(s.ready, (e) => e instanceof ServiceError && e.status === 0);
  await assert.rejects(s.next(), ServiceError);
});

test('a wrong key: 401', async (t) => {
  if (!enforced) return t.skip('the service does not require an API key');
  const c = new TextRemovalClient({ baseUrl: svc.url, apiKey: 'wrong' });
  await assert.rejects(c.tasks(), (e) => e.status === 401 && e.code === 'unauthorized');
});
