import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { ServiceError } from '../src/index.js';
import { decodePng, drawText, encodePng, makeImage, meanBrightness, service } from './helpers.js';

let svc;
before(async () => { svc = await service(); });
after(async () => { await svc?.done(); });

// two lines of dark pixel-font text on a light background
const img = makeImage(420, 240, [236, 234, 226]);
const LINE1 = drawText(img, 'HELLO WORLD', 20, 30, 5);
const LINE2 = drawText(img, 'TEXT REMOVAL', 20, 150, 5);
const png = encodePng(img);

const inside = (box, [x, y], slack = 12) =>
  x >= box.x - slack && x <= box.x + box.width + slack && y >= box.y - slack && y <= box.y + box.height + slack;

/** Fraction of `line`'s box covered by the union of detected bounding boxes (sampled). */
function coverage(line, regions) {
  let hit = 0, n = 0;
  for (let y = line.y + 2; y < line.y + line.height - 2; y += 3) {
    for (let x = line.x + 2; x < line.x + line.width - 2; x += 3) {
      n++;
      if (regions.some(({ bounding_box: b }) => x >= b.x && x <= b.x + b.width && y >= b.y && y <= b.y + b.height)) hit++;
    }
  }
  return hit / n;
}

test('detectText finds both lines as polygons with boxes and scores', async () => {
  const r = await svc.client.detectText({ image: png });
  assert.deepEqual(r.image_dimensions, { width: 420, height: 240 });
  assert.equal(typeof r.processing_time, 'number');
  assert.ok(r.regions.length >= 2, `found ${r.regions.length}`);
  for (const reg of r.regions) {
    assert.ok(Array.isArray(reg.points) && reg.points.length >= 4);
    for (const k of ['x', 'y', 'width', 'height']) assert.equal(typeof reg.bounding_box[k], 'number');
    assert.ok(reg.score > 0 && reg.score <= 1);
    assert.ok(reg.points.every((p) => inside(LINE1, p) || inside(LINE2, p)), `stray detection ${JSON.stringify(reg)}`);
  }
  assert.ok(coverage(LINE1, r.regions) > 0.9, `line 1 coverage ${coverage(LINE1, r.regions)}`);
  assert.ok(coverage(LINE2, r.regions) > 0.9, `line 2 coverage ${coverage(LINE2, r.regions)}`);
});

test('detectText with regions searches only inside them', async () => {
  const r = await svc.client.detectText({ image: png, regions: [{ x: 0, y: 120, width: 420, height: 120 }] });
  assert.ok(r.regions.length >= 1);
  assert.ok(r.regions.every((reg) => reg.points.every((p) => inside(LINE2, p))), JSON.stringify(r.regions));
  assert.ok(coverage(LINE2, r.regions) > 0.9);
  assert.equal(coverage(LINE1, r.regions), 0);
});

test('detected polygons can be sent straight back as regions', async () => {
  const { regions } = await svc.client.detectText({ image: png });
  const res = await svc.client.inpaintRegions({ image: png, regions });
  assert.equal(res.regionsCount, regions.length);
  const out = decodePng(res.bytes);
  for (const line of [LINE1, LINE2]) {
    const before = meanBrightness(img, line.x, line.y, line.width, line.height);
    const after = meanBrightness(out, line.x, line.y, line.width, line.height);
    assert.ok(after > before + 40 && after > 200, `line not removed: ${before} -> ${after}`);
  }
});

test('detect: true on inpaint-regions-json reports the lines found', async () => {
  const j = await svc.client.inpaintRegionsJson({ image: png, detect: true });
  assert.equal(j.success, true);
  assert.ok(j.processing_stats.text_lines_detected >= 2, JSON.stringify(j.processing_stats));
});

test('detectText of an undecodable image is a 400', async () => {
  await assert.rejects(svc.client.detectText({ image: 'bm90IGFuIGltYWdl' }),
    (e) => e instanceof ServiceError && e.status === 400);
});

test('recognize reads each line; removeText that matches nothing removes nothing and says so', async () => {
  const read = await svc.client.detectText({ image: png, recognize: true });
  assert.ok(read.regions.length >= 2);
  for (const reg of read.regions) {
    assert.equal(typeof reg.text, 'string');
    assert.ok(reg.text_score >= 0 && reg.text_score <= 1);
  }
  const plain = await svc.client.detectText({ image: png });
  assert.ok(plain.regions.every((reg) => !('text' in reg)));
  const res = await svc.client.inpaintRegions({ image: png, detect: true, removeText: '@email' });
  assert.equal(res.textPatternsUnmatched, 1);
  assert.equal(res.textLinesRemoved, 0);
  assert.equal(res.textLinesKept, read.regions.length);
  assert.deepEqual(decodePng(res.bytes).data, decodePng(png).data); // nothing repainted
  const stats = await svc.client.inpaintRegionsJson({ image: png, detect: true, removeText: ['@email'], recognize: true });
  const lines = stats.processing_stats.text_lines;
  assert.deepEqual(lines.unmatched_patterns, ['@email']);
  assert.ok(lines.lines.every((l) => l.status === 'kept' && typeof l.text === 'string'));
  await assert.rejects(svc.client.inpaintRegions({ image: png, detect: true, removeText: ['(a)\\1'] }),
    (e) => e instanceof ServiceError && e.status === 422 && e.code === 'invalid_pattern');
});
