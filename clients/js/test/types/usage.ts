// Compiled by `npm run typecheck` (tsc --noEmit) only: checks that index.d.ts describes real usage.
import TextRemovalClient, {
  InvalidSignature, ServiceError, TextRemovalClient as Named, verifySignature, type Line, type ProgressMessage, type Region,
  type ReplaceResult,
} from 'iopaint-text-removal-client';

async function usage(ws: new (url: string) => unknown): Promise<void> {
  const client: Named = new TextRemovalClient({ baseUrl: 'http://localhost:8081', apiKey: 'k', WebSocket: ws });
  const h = await client.health();
  const healthy: boolean = h.status === 'healthy';
  const info = await client.info();
  const maxSide: number = info.limits.max_image_size;
  const regions: Region[] = [{ x: 1, y: 2, width: 3, height: 4 }, { bounding_box: { x: 0, y: 0, width: 1, height: 1 } },
    { points: [[0, 0], [1, 0], [1, 1]] }];
  const img = await client.inpaintRegions({ image: new Uint8Array(0), regions, padding: 4, maskMode: 'text' });
  const bytes: Uint8Array = img.bytes;
  const t: number | null = img.processingTime;
  const json = await client.inpaintRegionsJson({ image: 'base64', regions });
  const w: number = json.processing_stats.image_dimensions.width;
  const found = await client.detectText({ image: new Blob([]), recognize: true });
  const said: string | undefined = found.regions[0]?.text;
  const redacted = await client.inpaintRegions({ image: 'x', detect: true, removeText: ['@email', '@phone'], keepText: 'ACME' });
  const removed: number | null = redacted.textLinesRemoved;
  const stats = await client.inpaintRegionsJson({ image: 'x', detect: true, remove_text: '@url', recognize: true });
  for (const line of stats.processing_stats.text_lines?.lines ?? []) { const st: string = line.status; void st; void line.text; }
  const described = await client.detectText({ image: 'x', describe: true });
  const size: number | null | undefined = described.regions[0]?.style?.font_size;
  const outlineWidth: number | undefined = described.regions[0]?.style?.outline?.width;
  void said; void removed; void size; void outlineWidth;
  await client.inpaintRegions({ image: 'x', regions: found.regions });
  const lines: Line[] = [
    { region: { x: 1, y: 2, width: 3, height: 4 }, text: 'new', style: { text_color: '#ff0000', outline: null, font: 'serif' } },
    { region: found.regions[0]!, text: '', align: 'center' },
  ];
  const replaced: ReplaceResult = await client.replaceText({ image: new Uint8Array(0), lines, padding: 2, verify: false });
  const sizes: Array<number | null> = replaced.fontSizes;
  const shrunk: boolean[] = (await client.replaceText('x', lines, { outputFormat: 'jpeg', timeout: 5000 })).shrunk;
  const written: number | null = replaced.linesWritten;
  const report = await client.replaceTextJson(new Blob([]), lines);
  const wanted: number | null | undefined = report.lines[0]?.wanted_size;
  const colour: string | null | undefined = report.lines[0]?.style.text_color;
  const families: string[] = (await client.fonts()).fonts.map((f) => f.family);
  const residual: number | null = replaced.residualText;
  void sizes; void shrunk; void written; void wanted; void colour; void families; void residual;
  const sub = await client.submit({ image: new ArrayBuffer(0), regions, taskId: 'id', callbackUrl: 'http://cb' });
  const stream = client.watch(sub.task_id);
  await stream.ready;
  for await (const m of stream) {
    const msg: ProgressMessage = m;
    if (m.type === 'progress_update') { const p: number = m.overall_progress; void p; }
    if (m.type === 'task_failed') { const e: string = m.error; void e; }
  }
  for await (const m of client.progress('id')) void m.type;
  const st = await client.taskStatus('id');
  const s: 'pending' | 'preparing' | 'processing' | 'completed' | 'error' | 'cancelled' = st.status;
  await client.submitBatch([{ image: 'x', regions }], { taskId: 'b' });
  await client.submitBatch({ items: [{ image: 'x' }] });
  const r = await client.remove({ image: 'x', regions, onProgress: (m) => void m });
  const id: string = r.taskId;
  try { await client.cancelTask('x'); } catch (e) {
    if (e instanceof ServiceError) { const code: string = e.code; const status: number = e.status; void code; void status; }
  }
  void healthy; void maxSide; void bytes; void t; void w; void s; void id;
}
void usage;

async function receiver(body: Uint8Array, header: string | undefined): Promise<number | null> {
  try {
    const t: number = await verifySignature(body, header, 'secret', { tolerance: 60 });
    return t;
  } catch (e) {
    if (e instanceof InvalidSignature) return null;
    throw e;
  }
}
void receiver;
