import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { ServiceError, TextRemovalClient } from '../src/index.js';
import { decodePng, drawText, encodePng, makeImage, meanBrightness, service } from './helpers.js';

let svc;
before(async () => { svc = await service(); });
after(async () => { await svc?.done(); });

// three lines of dark pixel-font text on a light background
const BG = [236, 234, 226];
const img = makeImage(420, 240, BG);
const LINE1 = drawText(img, 'HELLO WORLD', 20, 30, 5);
const LINE2 = drawText(img, 'TEXT REMOVAL', 20, 120, 4);
const LINE3 = drawText(img, 'DONE', 250, 200, 3);
const png = encodePng(img);

const grow = (b, by = 6) => ({ x: b.x - by, y: b.y - by, width: b.width + 2 * by, height: b.height + 2 * by });

// LINE1 -> a shorter text (its own size), LINE2 -> a longer one (shrunk to fit), LINE3 -> nothing
const LINES = [
  { region: grow(LINE1), text: 'HI THERE' },
  { region: grow(LINE2), text: 'THIS IS A MUCH LONGER LINE OF TEXT' },
  { region: grow(LINE3), text: '' },
];

/** Pixels darker than `level` (mean of r, g, b) inside a box. */
function dark(image, b, level = 120) {
  let n = 0;
  for (let y = b.y; y < b.y + b.height; y++) {
    for (let x = b.x; x < b.x + b.width; x++) {
      const i = (y * image.width + x) * 3;
      if ((image.data[i] + image.data[i + 1] + image.data[i + 2]) / 3 < level) n++;
    }
  }
  return n;
}

test('replaceText: the image, with each line rewritten and the per-line headers parsed', async () => {
  const r = await svc.client.replaceText({ image: png, lines: LINES });
  assert.equal(r.mediaType, 'image/png');
  assert.equal(r.linesWritten, 2);
  assert.equal(r.regionsCount, 3);
  assert.equal(r.fontSizes.length, 3);
  assert.ok(r.fontSizes[0] > 0 && r.fontSizes[1] > 0 && r.fontSizes[2] === null, JSON.stringify(r.fontSizes));
  assert.deepEqual(r.shrunk, [false, true, false]);
  assert.ok(r.fontSizes[1] < r.fontSizes[0]);
  assert.equal(r.regionsChecked, 3);
  assert.ok(r.residualText >= 0 && r.residualText <= 1);
  assert.equal(r.headers.get('x-font-sizes').split(',')[2], '-');
  const out = decodePng(r.bytes);
  assert.ok(dark(out, LINE1) > 50, 'no new text where HELLO WORLD was');
  assert.ok(dark(img, LINE3) > 50 && dark(out, LINE3) === 0, 'DONE was not removed');
  const bg = meanBrightness(out, LINE3.x, LINE3.y, LINE3.width, LINE3.height);
  assert.ok(Math.abs(bg - (BG[0] + BG[1] + BG[2]) / 3) < 12, `LINE3 not back to the background: ${bg}`);
});

test('replaceText(image, lines, options) and base64 JSON give the same pixels as the request form', async () => {
  const a = await svc.client.replaceText({ image: png, lines: LINES, verify: false });
  const b = await svc.client.replaceText(png, LINES, { verify: false });
  const json = new TextRemovalClient({ baseUrl: svc.url, apiKey: svc.apiKey, transport: 'json' });
  const c = await json.replaceText(png.buffer, LINES, { verify: false });
  assert.equal(a.regionsChecked, null); // verify: false
  assert.deepEqual(decodePng(b.bytes).data, decodePng(a.bytes).data);
  assert.deepEqual(decodePng(c.bytes).data, decodePng(a.bytes).data);
  const jpeg = await svc.client.replaceText(png, LINES, { outputFormat: 'jpeg', quality: 80 });
  assert.equal(jpeg.mediaType, 'image/jpeg');
  assert.deepEqual(jpeg.fontSizes, a.fontSizes);
});

test('replaceTextJson: what was written per line, with the look; a given colour replaces the measure', async () => {
  const lines = [{ ...LINES[0], style: { text_color: '#ff0000', outline: null }, align: 'center' }, LINES[1], LINES[2]];
  const j = await svc.client.replaceTextJson({ image: png, lines });
  assert.equal(j.success, true);
  assert.match(j.message, /rewrote 2 line\(s\) of 3/);
  assert.equal(j.lines.length, 3);
  const [first, second, third] = j.lines;
  assert.equal(first.style.text_color, '#ff0000');
  assert.match(first.font, /^DejaVu Sans/);
  assert.equal(first.shrunk, false);
  assert.ok(second.shrunk && second.font_size < second.wanted_size, JSON.stringify(second));
  assert.ok(second.style.text_color.startsWith('#'));
  assert.deepEqual([third.font, third.font_size, third.shrunk], [null, null, false]);
  assert.equal(j.processing_stats.regions_processed, 3);
  assert.deepEqual(j.processing_stats.image_dimensions, { width: 420, height: 240 });
  assert.equal(j.processing_stats.verification.regions_checked, 3);
});

test('fonts() lists the installed faces', async () => {
  const { fonts } = await svc.client.fonts();
  assert.ok(fonts.length >= 1);
  assert.ok(fonts.some((f) => f.family === 'DejaVu Sans' && f.bold === false && f.kind === 'sans'), JSON.stringify(fonts));
  for (const f of fonts) for (const k of ['name', 'family', 'kind']) assert.equal(typeof f[k], 'string');
});

test('detectText with describe gives each line its style; the lines found go straight into replaceText', async () => {
  const found = await svc.client.detectText({ image: png, describe: true });
  assert.ok(found.regions.length >= 3, `found ${found.regions.length}`);
  for (const reg of found.regions) {
    assert.ok(reg.style && typeof reg.style.text_color === 'string' && reg.style.font_size > 0, JSON.stringify(reg.style));
  }
  const r = await svc.client.replaceText(png, found.regions.map((region) => ({ region, text: '' })));
  assert.equal(r.linesWritten, 0);
  assert.ok(r.fontSizes.every((s) => s === null));
  const out = decodePng(r.bytes);
  for (const line of [LINE1, LINE2, LINE3]) assert.ok(dark(out, line) < 5, `text left in ${JSON.stringify(line)}`);
});

test('a refused line: ServiceError 422 with the code and the loc of the field', async () => {
  const cases = [
    [[{ ...LINES[0], style: { font: 'no-such-font' } }], 'unknown_font', ['lines', 0, 'style', 'font']],
    [[LINES[0], { ...LINES[1], text: '\u0e01\u0e02' }], 'unrenderable_text', ['lines', 1, 'text']],
    [[{ region: { x: 900, y: 900, width: 10, height: 10 }, text: 'X' }], 'region_outside_image', ['lines', 0, 'region']],
    [[{ ...LINES[0], style: { text_color: 'red' } }], 'invalid_input', ['lines', 0, 'style', 'text_color']],
  ];
  for (const [lines, code, loc] of cases) {
    await assert.rejects(svc.client.replaceText(png, lines), (e) => {
      assert.ok(e instanceof ServiceError, String(e));
      assert.equal(e.status, 422);
      assert.equal(e.code, code);
      assert.deepEqual(e.errors[0].loc, loc);
      assert.ok(typeof e.detail === 'string' && e.detail.length > 0);
      return true;
    });
  }
  await assert.rejects(svc.client.replaceTextJson({ image: png, lines: [] }),
    (e) => e instanceof ServiceError && e.status === 422 && e.code === 'invalid_input' && e.errors[0].loc[0] === 'lines');
});
