// Test helpers: a tiny PNG encoder/decoder (node:zlib only), synthetic images with pixel-font
// text, and the live service (started here unless TEXT_REMOVAL_URL points at one).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, openSync, closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

import { TextRemovalClient } from '../src/index.js';

// ------------------------------------------------------------------ PNG

const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  Buffer.from(data).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** An RGB image: {width, height, data: Uint8Array (w*h*3)}. */
export function makeImage(width, height, [r, g, b] = [255, 255, 255]) {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) { data[i] = r; data[i + 1] = g; data[i + 2] = b; }
  return { width, height, data };
}

export function fillRect(img, x, y, w, h, [r, g, b]) {
  for (let yy = Math.max(0, y); yy < Math.min(img.height, y + h); yy++) {
    for (let xx = Math.max(0, x); xx < Math.min(img.width, x + w); xx++) {
      const i = (yy * img.width + xx) * 3;
      img.data[i] = r; img.data[i + 1] = g; img.data[i + 2] = b;
    }
  }
}

/** Encode an RGB image as PNG (8-bit, colour type 2, filter 0). */
export function encodePng({ width, height, data }) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    Buffer.from(data.buffer, data.byteOffset + y * width * 3, width * 3).copy(raw, y * (width * 3 + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return new Uint8Array(Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]));
}

/** Decode an 8-bit, non-interlaced PNG (grey, grey+alpha, RGB, RGBA) to RGB. */
export function decodePng(bytes) {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let pos = 8, width = 0, height = 0, depth = 0, ctype = 0, interlace = 0;
  const idat = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      depth = data[8]; ctype = data[9]; interlace = data[12];
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    pos += 12 + len;
  }
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[ctype];
  if (depth !== 8 || !channels || interlace) throw new Error(`unsupported PNG: depth ${depth}, colour type ${ctype}, interlace ${interlace}`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const px = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? px[y * stride + x - channels] : 0;
      const b = y > 0 ? px[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? px[(y - 1) * stride + x - channels] : 0;
      let v = line[x];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[y * stride + x] = v & 0xff;
    }
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const s = i * channels;
    if (channels < 3) rgb.fill(px[s], i * 3, i * 3 + 3);
    else rgb.set(px.subarray(s, s + 3), i * 3);
  }
  return { width, height, data: rgb };
}

/** Mean of (r+g+b)/3 over a rectangle. */
export function meanBrightness(img, x, y, w, h) {
  let sum = 0, n = 0;
  for (let yy = y; yy < y + h; yy++) {
    for (let xx = x; xx < x + w; xx++) {
      const i = (yy * img.width + xx) * 3;
      sum += (img.data[i] + img.data[i + 1] + img.data[i + 2]) / 3;
      n++;
    }
  }
  return sum / n;
}

// ------------------------------------------------------------------ pixel-font text

const FONT = { // 5x7 glyphs, rows top to bottom
  A: ['01110', '10001', '10001', '11111', '10001', '10001', '10001'],
  D: ['11110', '10001', '10001', '10001', '10001', '10001', '11110'],
  E: ['11111', '10000', '10000', '11110', '10000', '10000', '11111'],
  H: ['10001', '10001', '10001', '11111', '10001', '10001', '10001'],
  L: ['10000', '10000', '10000', '10000', '10000', '10000', '11111'],
  M: ['10001', '11011', '10101', '10101', '10001', '10001', '10001'],
  N: ['10001', '11001', '10101', '10011', '10001', '10001', '10001'],
  O: ['01110', '10001', '10001', '10001', '10001', '10001', '01110'],
  P: ['11110', '10001', '10001', '11110', '10000', '10000', '10000'],
  R: ['11110', '10001', '10001', '11110', '10100', '10010', '10001'],
  S: ['01111', '10000', '10000', '01110', '00001', '00001', '11110'],
  T: ['11111', '00100', '00100', '00100', '00100', '00100', '00100'],
  V: ['10001', '10001', '10001', '10001', '10001', '01010', '00100'],
  W: ['10001', '10001', '10001', '10101', '10101', '10101', '01010'],
  X: ['10001', '10001', '01010', '00100', '01010', '10001', '10001'],
  ' ': ['00000', '00000', '00000', '00000', '00000', '00000', '00000'],
};

/** Draw `text` with the pixel font at (x, y), `scale` pixels per font dot. Answers its box. */
export function drawText(img, text, x, y, scale, colour = [20, 20, 20]) {
  let cx = x;
  for (const ch of text.toUpperCase()) {
    const g = FONT[ch];
    if (!g) throw new Error(`no glyph for ${ch}`);
    g.forEach((row, ry) => [...row].forEach((bit, rx) => {
      if (bit === '1') fillRect(img, cx + rx * scale, y + ry * scale, scale, scale, colour);
    }));
    cx += 6 * scale;
  }
  return { x, y, width: cx - x - scale, height: 7 * scale };
}

// ------------------------------------------------------------------ the live service

const REPO = resolve(fileURLToPath(new URL('../../..', import.meta.url)));

export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/**
 * Start `python -m app serve` (cv2 model, a free port, TORCH_HOME in a temp dir), wait until
 * /api/v1/health says healthy. Answers {url, apiKey, stop()}.
 */
export async function startService({ apiKey = `test-key-${process.pid}`, timeout = 180000 } = {}) {
  const port = await freePort();
  const tmp = mkdtempSync(join(tmpdir(), 'trc-js-'));
  const logPath = join(tmp, 'service.log');
  const log = openSync(logPath, 'w');
  const python = process.env.SERVICE_PYTHON ?? join(REPO, '.venv/bin/python');
  const child = spawn(python, ['-m', 'app', 'serve'], {
    cwd: REPO,
    stdio: ['ignore', log, log],
    env: {
      ...process.env,
      IOPAINT_MODEL: 'cv2',
      IOPAINT_HOST: '127.0.0.1',
      IOPAINT_PORT: String(port),
      IOPAINT_DEVICE: 'cpu',
      IOPAINT_API_KEY: apiKey,
      TORCH_HOME: join(tmp, 'torch'),
      HF_HOME: join(tmp, 'hf'),
      XDG_CACHE_HOME: join(tmp, 'cache'),
      LOG_LEVEL: 'WARNING',
    },
  });
  closeSync(log);
  let exited = null;
  const exitPromise = new Promise((res) => child.once('exit', (code, sig) => { exited = { code, sig }; res(exited); }));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 15000);
      await exitPromise;
      clearTimeout(t);
    }
    rmSync(tmp, { recursive: true, force: true });
  };
  const client = new TextRemovalClient({ baseUrl: url, apiKey });
  const deadline = Date.now() + timeout;
  for (;;) {
    if (exited) {
      const text = readFileSync(logPath, 'utf8');
      await stop();
      throw new Error(`the service exited (${JSON.stringify(exited)}) before it was healthy:\n${text.slice(-4000)}`);
    }
    try {
      const h = await client.health({ timeout: 2000 });
      if (h?.status === 'healthy') break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      const text = readFileSync(logPath, 'utf8');
      await stop();
      throw new Error(`the service was not healthy after ${timeout} ms:\n${text.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { url, apiKey, stop, logPath };
}

/**
 * The service the tests talk to: TEXT_REMOVAL_URL (+ TEXT_REMOVAL_API_KEY) when test/run.mjs
 * (or the user) started one, else one started for this test file. Call `done()` in `after`.
 */
export async function service() {
  if (process.env.TEXT_REMOVAL_URL) {
    const url = process.env.TEXT_REMOVAL_URL;
    const apiKey = process.env.TEXT_REMOVAL_API_KEY || undefined;
    return { url, apiKey, client: new TextRemovalClient({ baseUrl: url, apiKey, WebSocket }), done: async () => {} };
  }
  const svc = await startService();
  return {
    url: svc.url, apiKey: svc.apiKey,
    client: new TextRemovalClient({ baseUrl: svc.url, apiKey: svc.apiKey, WebSocket }),
    done: svc.stop,
  };
}

export { WebSocket };
