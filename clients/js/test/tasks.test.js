import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';

import { ServiceError, TextRemovalClient } from '../src/index.js';
import { decodePng, encodePng, fillRect, makeImage, meanBrightness, service } from './helpers.js';

let svc;
before(async () => { svc = await service(); });
after(async () => { await svc?.done(); });

const REGIONS = [{ x: 20, y: 20, width: 50, height: 16 }, { x: 90, y: 70, width: 50, height: 16 }];
function picture(w = 160, h = 120) {
  const img = makeImage(w, h, [210, 210, 210]);
  for (const r of REGIONS) fillRect(img, r.x + 2, r.y + 2, r.width - 4, r.height - 4, [15, 15, 15]);
  return encodePng(img);
}
const png = picture();
const id = (what) => `js-${what}-${randomUUID()}`;

/** Collect a stream's messages; check every task message has the id and progress never falls. */
async function collect(stream, taskId) {
  const msgs = [];
  for await (const m of stream) msgs.push(m);
  assert.ok(msgs.length > 0);
  for (const m of msgs) {
    assert.equal(typeof m.type, 'string');
    assert.equal(typeof m.timestamp, 'string');
    if (!['connection_established', 'pong', 'error'].includes(m.type)) assert.equal(m.task_id, taskId, JSON.stringify(m));
  }
  const ups = msgs.filter((m) => m.type === 'progress_update');
  assert.ok(ups.length > 0, 'no progress_update');
  for (let i = 1; i < ups.length; i++) {
    assert.ok(ups[i].overall_progress >= ups[i - 1].overall_progress,
      `overall_progress fell: ${ups.map((u) => u.overall_progress).join(',')}`);
  }
  for (const u of ups) {
    assert.ok(u.overall_progress >= 0 && u.overall_progress <= 100);
    assert.equal(u.progress, u.overall_progress);
  }
  return { msgs, ups, last: msgs[msgs.length - 1] };
}

test('submit, then progress(taskId): monotonic overall_progress, ends with task_completed', async () => {
  const answer = await svc.client.submit({ image: png, regions: REGIONS });
  assert.equal(answer.status, 'pending');
  assert.equal(typeof answer.task_id, 'string');
  assert.match(answer.websocket_url, new RegExp(`^ws://.*/api/v1/ws/progress/${answer.task_id}$`));
  const stream = svc.client.progress(answer.task_id);
  const { ups, last } = await collect(stream, answer.task_id);
  assert.equal(last.type, 'task_completed');
  assert.equal(last.total_regions, 2);
  assert.equal(ups[ups.length - 1].overall_progress, 100);
  assert.equal(stream.connectionId?.length > 0, true);

  const st = await svc.client.taskStatus(answer.task_id);
  assert.equal(st.status, 'completed');
  assert.equal(st.overall_progress, 100);
  assert.equal(st.task_id, answer.task_id);

  const res = await svc.client.taskResult(answer.task_id);
  assert.equal(res.mediaType, 'image/png');
  assert.equal(res.taskId, answer.task_id);
  const out = decodePng(res.bytes);
  assert.ok(meanBrightness(out, 30, 25, 30, 6) > 150, 'region 1 not repainted');
  assert.equal(meanBrightness(out, 0, 100, 20, 20), 210);
});

test('progress(taskId) opened before submitting a caller task id sees the whole task', async () => {
  const taskId = id('path');
  const stream = svc.client.progress(taskId);
  const sub = await stream.ready;
  assert.equal(sub.type, 'task_subscribed');
  const answer = await svc.client.submit({ image: png, regions: REGIONS, taskId, progressInterval: 0 });
  assert.equal(answer.task_id, taskId);
  const { ups, last } = await collect(stream, taskId);
  assert.equal(last.type, 'task_completed');
  assert.ok(ups.length >= 2, `only ${ups.length} progress_update(s)`);
  assert.ok(ups[0].overall_progress < 100);
});

test('watch(): subscribe on the general channel before submit, with a caller task id', async () => {
  const taskId = id('watch');
  const stream = svc.client.watch(taskId);
  assert.match(stream.url, /\/api\/v1\/ws\/progress\?api_key=|\/api\/v1\/ws\/progress$/);
  await stream.ready;
  const answer = await svc.client.submit({ image: png, regions: REGIONS, task_id: taskId });
  assert.equal(answer.task_id, taskId);
  const { msgs, ups, last } = await collect(stream, taskId);
  assert.equal(msgs[0].type, 'connection_established');
  assert.equal(msgs[0].task_id, null);
  assert.ok(msgs.some((m) => m.type === 'task_subscribed'));
  assert.equal(last.type, 'task_completed');
  assert.equal(ups[ups.length - 1].overall_progress, 100);
  assert.equal((await stream.next()).done, true);
});

test('watch() of a finished task learns the final state at once', async () => {
  const taskId = id('late');
  await svc.client.submit({ image: png, regions: REGIONS, taskId, enableProgress: false });
  await svc.client.waitForTask(taskId, { interval: 50, timeout: 60000 });
  const { last, ups } = await collect(svc.client.watch(taskId), taskId);
  assert.equal(last.type, 'task_completed');
  assert.equal(ups[ups.length - 1].status, 'completed');
});

/** Queue two big jobs on the (single) worker so that the next task stays pending a while. */
async function occupyWorker() {
  const bigImg = makeImage(1600, 1600, [200, 200, 200]);
  const bigRegions = [];
  for (let y = 20; y < 1580; y += 60) for (let x = 20; x < 1580; x += 120) bigRegions.push({ x, y, width: 90, height: 30 });
  const big = encodePng(bigImg);
  const ids = [];
  for (let i = 0; i < 2; i++) ids.push((await svc.client.submit({ image: big, regions: bigRegions, enableProgress: false })).task_id);
  return { release: () => Promise.all(ids.map((b) => svc.client.cancelTask(b).catch(() => {}))) };
}

test('a task id in use is a 409 task_id_conflict; cancelling a completed task is a 409', async () => {
  const busy = await occupyWorker();
  const taskId = id('dup');
  try {
    const answer = await svc.client.submit({ image: png, regions: REGIONS, taskId, enableProgress: false });
    assert.equal(answer.websocket_url, null);
    await assert.rejects(svc.client.submit({ image: png, regions: REGIONS, taskId }),
      (e) => e instanceof ServiceError && e.status === 409 && e.code === 'task_id_conflict');
  } finally {
    await busy.release();
  }
  assert.equal((await svc.client.waitForTask(taskId, { interval: 50, timeout: 60000 })).status, 'completed');
  await assert.rejects(svc.client.cancelTask(taskId), (e) => e instanceof ServiceError && e.status === 409 && e.code === 'task_finished');
});

test('an unknown task: ServiceError 404 task_not_found from status, cancel and result', async () => {
  const taskId = id('nope');
  for (const call of [() => svc.client.taskStatus(taskId), () => svc.client.cancelTask(taskId), () => svc.client.taskResult(taskId)]) {
    await assert.rejects(call(), (e) => {
      assert.ok(e instanceof ServiceError);
      assert.equal(e.status, 404);
      assert.equal(e.code, 'task_not_found');
      assert.match(String(e.detail), /nope/);
      return true;
    });
  }
});

test('cancelTask on a queued task: the stream ends with task_cancelled, the result is a 409', async () => {
  const busy = await occupyWorker();
  try {
    const taskId = id('cancel');
    const stream = svc.client.watch(taskId);
    await stream.ready;
    await svc.client.submit({ image: png, regions: REGIONS, taskId });
    const c = await svc.client.cancelTask(taskId);
    assert.equal(c.task_id, taskId);
    assert.equal(c.status, 'cancelled');
    const msgs = [];
    for await (const m of stream) msgs.push(m);
    assert.equal(msgs[msgs.length - 1].type, 'task_cancelled');
    assert.equal((await svc.client.taskStatus(taskId)).status, 'cancelled');
    await assert.rejects(svc.client.taskResult(taskId), (e) => e.status === 409 && e.code === 'task_not_finished');
  } finally {
    await busy.release();
  }
});

test('tasks() counts', async () => {
  const t = await svc.client.tasks();
  for (const k of ['total_tasks', 'active_tasks', 'completed_tasks', 'error_tasks']) assert.equal(typeof t[k], 'number', k);
  assert.ok(t.completed_tasks >= 1);
  assert.ok(Array.isArray(t.active_task_ids));
});

test('submitBatch: one task, a ZIP result and per-item images', async () => {
  const taskId = id('batch');
  const stream = svc.client.progress(taskId);
  await stream.ready;
  const answer = await svc.client.submitBatch(
    [{ image: png, regions: REGIONS, name: 'first' }, { image: new Blob([png]), regions: [REGIONS[0]], name: 'second' }],
    { taskId, padding: 1 },
  );
  assert.equal(answer.task_id, taskId);
  const { last } = await collect(stream, taskId);
  assert.equal(last.type, 'task_completed');
  const zip = await svc.client.taskResult(taskId);
  assert.equal(zip.mediaType, 'application/zip');
  assert.deepEqual([...zip.bytes.subarray(0, 2)], [0x50, 0x4b]); // "PK"
  for (const i of [0, 1]) {
    const item = await svc.client.taskItemResult(taskId, i);
    assert.equal(item.mediaType, 'image/png');
    assert.equal(decodePng(item.bytes).width, 160);
  }
});

test('remove(): subscribe, submit, onProgress, result', async () => {
  const seen = [];
  const r = await svc.client.remove({ image: png, regions: REGIONS, onProgress: (m) => seen.push(m) });
  assert.equal(r.mediaType, 'image/png');
  assert.equal(typeof r.taskId, 'string');
  assert.ok(seen.length > 0);
  assert.ok(seen.every((m) => m.type === 'progress_update' && m.task_id === r.taskId));
  assert.equal(seen[seen.length - 1].overall_progress, 100);
  assert.ok(meanBrightness(decodePng(r.bytes), 30, 25, 30, 6) > 150);
});

test('remove() without a WebSocket polls task-status', async () => {
  const c = new TextRemovalClient({ baseUrl: svc.url, apiKey: svc.apiKey, WebSocket: null });
  const seen = [];
  const taskId = id('poll');
  const r = await c.remove({ image: png, regions: REGIONS, taskId, onProgress: (s) => seen.push(s) });
  assert.equal(r.taskId, taskId);
  assert.equal(r.mediaType, 'image/png');
  assert.equal(seen[seen.length - 1].status, 'completed');
});

test('remove() of an undecodable image: a ServiceError, whether at submit or from the task', async () => {
  await assert.rejects(svc.client.remove({ image: new Uint8Array(64).fill(7), regions: REGIONS }), (e) => {
    assert.ok(e instanceof ServiceError);
    assert.ok(e.status === 400 || e.code === 'task_failed', `${e.status} ${e.code}`);
    return true;
  });
});

test('breaking out of a progress loop closes the connection', async () => {
  const taskId = id('break');
  const stream = svc.client.watch(taskId);
  for await (const m of stream) {
    if (m.type === 'task_subscribed') break;
  }
  assert.equal((await stream.next()).done, true);
});
