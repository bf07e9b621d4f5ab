#!/usr/bin/env node
// `npm test`: start the live service once (cv2 model, a free port, TORCH_HOME in a temp dir),
// run every test/*.test.js with Node's test runner against it, stop the service.
// With TEXT_REMOVAL_URL already set (and TEXT_REMOVAL_API_KEY if needed), uses that service.
// Extra arguments are passed to `node --test` (e.g. --test-name-pattern=detect).

import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startService } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(here).filter((f) => f.endsWith('.test.js')).sort().map((f) => join(here, f));

let svc = null;
const env = { ...process.env };
if (!env.TEXT_REMOVAL_URL) {
  process.stderr.write('starting the service (IOPAINT_MODEL=cv2) ...\n');
  const t0 = Date.now();
  svc = await startService();
  process.stderr.write(`service healthy at ${svc.url} after ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  env.TEXT_REMOVAL_URL = svc.url;
  env.TEXT_REMOVAL_API_KEY = svc.apiKey;
  env.TEXT_REMOVAL_SERVICE_LOG = svc.logPath;
}

let stopping = null;
const stop = () => (stopping ??= svc ? svc.stop() : Promise.resolve());
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, async () => { await stop(); process.exit(130); });
}

const code = await new Promise((resolve) => {
  const child = spawn(process.execPath, ['--test', ...process.argv.slice(2), ...files], { stdio: 'inherit', env });
  child.once('exit', (c, s) => resolve(c ?? (s ? 1 : 0)));
});
await stop();
process.exit(code);
