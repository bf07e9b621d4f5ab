import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { ServiceError, TextRemovalClient, bytesToBase64 } from '../src/index.js';
import { decodePng, encodePng, fillRect, makeImage, meanBrightness, service } from './helpers.js';

let svc;
before(async () => { svc = await service(); });
after(async () => { await svc?.done(); });

// a light grey 160x120 image with a dark 40x20 "text" block at (60, 50)
const BLOCK = { x: 60, y: 50, width: 40, height: 20 };
function picture() {
  const img = makeImage(160, 120, [200, 200, 200]);
  fillRect(img, BLOCK.x, BLOCK.y, BLOCK.width, BLOCK.height, [10, 10, 10]);
  return img;
}
const png = encodePng(picture());

test('inpaintRegions: PNG bytes, stats headers parsed, the region repainted, the rest kept', async () => {
  const r = await svc.client.inpaintRegions({ image: png, regions: [BLOCK], padding: 2 });
  assert.equal(r.mediaType, 'image/png');
  assert.ok(r.bytes instanceof Uint8Array);
  assert.notDeepEqual(r.bytes, png);
  assert.equal(r.regionsCount, 1);
  assert.ok(r.totalArea >= BLOCK.width * BLOCK.height, `total area ${r.totalArea}`);
  assert.equal(typeof r.processingTime, 'number');
  assert.ok(r.processingTime >= 0);
  assert.ok(!Number.isNaN(Date.parse(r.timestamp)), `X-Timestamp ${r.timestamp}`);
  assert.equal(r.headers.get('x-regions-count'), '1');
  assert.equal(r.blob.type, 'image/png');
  assert.equal(r.blob.size, r.bytes.length);

  const before = picture();
  const out = decodePng(r.bytes);
  assert.equal(out.width, 160);
  assert.equal(out.height, 120);
  const inside = meanBrightness(out, BLOCK.x + 5, BLOCK.y + 4, BLOCK.width - 10, BLOCK.height - 8);
  assert.ok(meanBrightness(before, BLOCK.x + 5, BLOCK.y + 4, BLOCK.width - 10, BLOCK.height - 8) < 20);
  assert.ok(inside > 150, `the block was not removed: mean ${inside}`);
  // far from the region, nothing changed
  assert.equal(meanBrightness(out, 0, 0, 30, 30), 200);
  assert.equal(meanBrightness(out, 130, 90, 30, 30), 200);
});

test('images as ArrayBuffer, Blob, base64 and data: URL give the same answer as bytes', async () => {
  const b64 = bytesToBase64(png);
  assert.equal(b64, Buffer.from(png).toString('base64'));
  const inputs = [
    png.buffer.slice(png.byteOffset, png.byteOffset + png.byteLength),
    new Blob([png], { type: 'image/png' }),
    b64,
    `data:image/png;base64,${b64}`,
    Buffer.from(png),
  ];
  for (const image of inputs) {
    const j = await svc.client.inpaintRegionsJson({ image, regions: [BLOCK] });
    assert.deepEqual(j.processing_stats.image_dimensions, { width: 160, height: 120 });
  }
});

test('inpaintRegionsJson: stats for nested and polygon regions', async () => {
  const j = await svc.client.inpaintRegionsJson({
    image: png,
    regions: [
      { bounding_box: BLOCK, text: 'ignored extra field' },
      { points: [[10, 10], [40, 10], [40, 30], [10, 30]] },
    ],
    padding: 0,
    sd_seed: 42, // backends send diffusion fields; harmless here
  });
  assert.equal(j.success, true);
  assert.equal(typeof j.message, 'string');
  const s = j.processing_stats;
  assert.equal(s.regions_processed, 2);
  assert.ok(s.total_area >= 800 + 600, `total_area ${s.total_area}`);
  assert.equal(typeof s.processing_time, 'number');
  assert.deepEqual(s.image_dimensions, { width: 160, height: 120 });
  assert.ok(!Number.isNaN(Date.parse(j.timestamp)));
});

test('inpaint with a mask repaints the white pixels', async () => {
  const mask = makeImage(160, 120, [0, 0, 0]);
  fillRect(mask, BLOCK.x - 2, BLOCK.y - 2, BLOCK.width + 4, BLOCK.height + 4, [255, 255, 255]);
  const r = await svc.client.inpaint({ image: png, mask: encodePng(mask) });
  assert.equal(r.mediaType, 'image/png');
  assert.equal(typeof r.processingTime, 'number');
  assert.ok(r.maskArea > 0);
  const out = decodePng(r.bytes);
  assert.ok(meanBrightness(out, BLOCK.x + 5, BLOCK.y + 4, 30, 12) > 150);
});

test('a region that misses the image and a mask of another size are reported', async () => {
  const r = await svc.client.inpaintRegions({ image: png, regions: [BLOCK, { x: 500, y: 500, width: 10, height: 10 }] });
  assert.equal(r.regionsOutsideImage, 1);
  assert.equal(r.regionsCount, 1);
  const clean = await svc.client.inpaintRegions({ image: png, regions: [BLOCK] });
  assert.equal(clean.regionsOutsideImage, null);
  const mask = makeImage(80, 60, [0, 0, 0]);
  fillRect(mask, BLOCK.x / 2 - 1, BLOCK.y / 2 - 1, BLOCK.width / 2 + 2, BLOCK.height / 2 + 2, [255, 255, 255]);
  const m = await svc.client.inpaint({ image: png, mask: encodePng(mask) });
  assert.equal(m.maskScaledFrom, '80x60');
  assert.ok(meanBrightness(decodePng(m.bytes), BLOCK.x + 5, BLOCK.y + 4, 30, 12) > 150);
});

test('outputFormat (camelCase) is sent as output_format', async () => {
  const r = await svc.client.inpaintRegions({ image: png, regions: [BLOCK], outputFormat: 'jpeg', quality: 80 });
  assert.equal(r.mediaType, 'image/jpeg');
  assert.deepEqual([...r.bytes.subarray(0, 2)], [0xff, 0xd8]);
});

test('no regions: ServiceError 422 no_regions with a detail', async () => {
  await assert.rejects(svc.client.inpaintRegions({ image: png, regions: [] }), (e) => {
    assert.ok(e instanceof ServiceError);
    assert.equal(e.status, 422);
    assert.equal(e.code, 'no_regions');
    assert.equal(typeof e.detail, 'string');
    assert.match(e.message, /422/);
    return true;
  });
});

test('an invalid field: ServiceError 422 invalid_input with field errors', async () => {
  await assert.rejects(svc.client.inpaintRegionsJson({ image: png, regions: [BLOCK], hd_strategy: 'Sideways' }), (e) => {
    assert.ok(e instanceof ServiceError);
    assert.equal(e.status, 422);
    assert.equal(e.code, 'invalid_input');
    assert.ok(Array.isArray(e.errors) && e.errors.length > 0);
    assert.ok(e.errors.some((x) => x.loc.includes('hd_strategy')), JSON.stringify(e.errors));
    return true;
  });
});

test('an undecodable image: ServiceError 400', async () => {
  await assert.rejects(
    svc.client.inpaintRegions({ image: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), regions: [BLOCK] }),
    (e) => e instanceof ServiceError && e.status === 400 && typeof e.code === 'string' && e.code.length > 0,
  );
});

test('inpaint without a mask is refused before sending', async () => {
  await assert.rejects(svc.client.inpaint({ image: png }), TypeError);
});

// ------------------------------------------------------------ transport

function recordingClient(transport) {
  const sent = [];
  const client = new TextRemovalClient({
    baseUrl: svc.url, apiKey: svc.apiKey, transport,
    fetch: async (url, init) => {
      sent.push({ path: new URL(url).pathname, body: init.body, contentType: init.headers['Content-Type'] });
      return fetch(url, init);
    },
  });
  return { client, sent };
}

test('uploads are multipart files by default, base64 JSON with transport json; answers are bytes', async () => {
  const { client, sent } = recordingClient(undefined);
  const r = await client.inpaintRegions({ image: png, regions: [BLOCK], padding: 2, maskMode: 'box' });
  const j = await client.inpaintRegionsJson({ image: new Blob([png]), regions: [BLOCK] });
  const maskImg = makeImage(160, 120, [0, 0, 0]);
  fillRect(maskImg, BLOCK.x - 2, BLOCK.y - 2, BLOCK.width + 4, BLOCK.height + 4, [255, 255, 255]);
  const m = await client.inpaint({ image: png, mask: encodePng(maskImg) });
  const d = await client.detectText({ image: png });
  const sub = await client.submit({ image: png, regions: [BLOCK] });
  await client.waitForTask(sub.task_id, { timeout: 60000 });
  const t = await client.taskResult(sub.task_id);
  assert.equal(sent.length >= 5, true);
  for (const s of sent.slice(0, 5)) {
    assert.ok(s.body instanceof FormData, `${s.path} was not sent as multipart`);
    assert.equal(s.body.get('image') instanceof Blob, true);
  }
  assert.equal(sent[0].body.get('regions'), JSON.stringify([BLOCK]));
  assert.equal(sent[0].body.get('mask_mode'), 'box');
  assert.equal(r.mediaType, 'image/png');
  assert.ok(r.bytes instanceof Uint8Array && r.bytes[0] === 0x89);
  assert.equal(j.processing_stats.regions_processed, 1);
  const removed = (bytes) => meanBrightness(decodePng(bytes), BLOCK.x + 5, BLOCK.y + 4, BLOCK.width - 10, BLOCK.height - 8) > 150;
  assert.ok(removed(m.bytes) && removed(r.bytes));
  assert.ok(Array.isArray(d.regions));
  assert.ok(removed(t.bytes));

  const json = recordingClient('json');
  const r2 = await json.client.inpaintRegions({ image: png, regions: [BLOCK], padding: 2, maskMode: 'box' });
  assert.equal(json.sent[0].contentType, 'application/json');
  assert.equal(JSON.parse(json.sent[0].body).image, bytesToBase64(png));
  assert.deepEqual(decodePng(r2.bytes).data, decodePng(r.bytes).data);

  // an image the caller already has as base64 goes as JSON, as it is
  const b = recordingClient(undefined);
  await b.client.inpaintRegionsJson({ image: bytesToBase64(png), regions: [BLOCK] });
  assert.equal(b.sent[0].contentType, 'application/json');
  assert.throws(() => new TextRemovalClient({ baseUrl: svc.url, transport: 'xml' }), TypeError);
});
