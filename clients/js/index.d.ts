// Types for the text-removal service client (src/index.js). Contract: docs/API.md of the service's repository.

/** An image: raw bytes (Uint8Array/Buffer or any ArrayBufferView), ArrayBuffer, Blob, or base64 (a data: URL allowed). */
export type ImageInput = Uint8Array | ArrayBuffer | ArrayBufferView | Blob | string;

export interface BoxRegion { x: number; y: number; width: number; height: number; [extra: string]: unknown }
export interface BoundingBox { x: number; y: number; width: number; height: number }
export interface NestedRegion { bounding_box: BoundingBox; [extra: string]: unknown }
/** A polygon of 3+ points, filled as a polygon (e.g. an OCR quadrilateral). */
export interface PolygonRegion { points: Array<[number, number]>; [extra: string]: unknown }
export type Region = BoxRegion | NestedRegion | PolygonRegion;

/** Parameters every inpainting route accepts (all optional; unknown extra fields are passed through). */
export interface InpaintParams {
  sd_seed?: number;
  sd_steps?: number;
  sd_strength?: number;
  sd_guidance_scale?: number;
  sd_sampler?: string;
  hd_strategy?: 'Original' | 'Crop' | 'Resize';
  hd_strategy_crop_trigger_size?: number;
  hd_strategy_crop_margin?: number;
  hd_strategy_resize_limit?: number;
  prompt?: string;
  negative_prompt?: string;
  /** pixels each region grows by */
  padding?: number;
  /** box: repaint whole regions; text: only the glyph strokes plus a margin (`maskMode` also accepted) */
  mask_mode?: 'box' | 'text';
  maskMode?: 'box' | 'text';
  output_format?: 'png' | 'jpeg' | 'jpg' | 'webp' | 'original' | 'input';
  outputFormat?: 'png' | 'jpeg' | 'jpg' | 'webp' | 'original' | 'input';
  quality?: number;
  /** after inpainting, look for text left behind and repaint it (default true; false skips the check) */
  verify?: boolean;
  [extra: string]: unknown;
}

/** Per-call options (may also be given inside the params object). */
export interface CallOptions {
  signal?: AbortSignal;
  /** milliseconds; overrides the client's `timeout` */
  timeout?: number;
}

export interface InpaintRequest extends InpaintParams, CallOptions {
  image: ImageInput;
  /** white (non-zero) = repaint; at another size of the image's shape (aspect within 1%) it is scaled to the
   * image, another shape is 422 mask_size_mismatch */
  mask: ImageInput;
}

export interface RegionsRequest extends InpaintParams, TextParams, CallOptions {
  image: ImageInput;
  regions?: Region[];
  /** optional mask, added to the regions */
  mask?: ImageInput;
  /** find the text with the service's detector (inside `regions` if given) */
  detect?: boolean;
}

/**
 * Remove only what matches (API.md): RE2 patterns or presets ('@email', '@phone', '@url',
 * '@number'), case-insensitive; one string is one pattern. A line is removed when it matches a
 * remove pattern (every line when there is none) and no keep pattern; where only part of a line
 * matches, only that part.
 */
export interface TextParams {
  removeText?: string | string[];
  remove_text?: string | string[];
  keepText?: string | string[];
  keep_text?: string | string[];
  /** report what each line says (`text`) in processing_stats.text_lines */
  recognize?: boolean;
  /** report how each line looks (`style`) in processing_stats.text_lines */
  describe?: boolean;
}

export interface AsyncOptions {
  /** caller-chosen id, used as given (`task_id` also accepted); a new UUID otherwise */
  taskId?: string;
  task_id?: string;
  callbackUrl?: string;
  callback_url?: string;
  /** default true */
  enableProgress?: boolean;
  enable_progress?: boolean;
  /** seconds between progress_update messages */
  progressInterval?: number;
  progress_interval?: number;
}

export interface SubmitRequest extends RegionsRequest, AsyncOptions {}

export interface BatchItem {
  image: ImageInput;
  regions?: Region[];
  mask?: ImageInput;
  detect?: boolean;
  /** echoed in the result file name */
  name?: string;
  [extra: string]: unknown;
}

export interface BatchOptions extends InpaintParams, TextParams, AsyncOptions, CallOptions {}

/** An image answer. Numbers are parsed from headers (null when absent). */
export interface ImageResult {
  bytes: Uint8Array;
  /** e.g. "image/png"; "application/zip" for a batch task's result */
  mediaType: string;
  /** the bytes as a Blob (created on first access) */
  readonly blob: Blob;
  /** X-Processing-Time, seconds */
  processingTime: number | null;
  /** X-Regions-Count */
  regionsCount: number | null;
  /** X-Total-Area, pixels */
  totalArea: number | null;
  /** X-Mask-Area, pixels */
  maskArea: number | null;
  /** X-Text-Lines-Detected (with detect: true) */
  textLinesDetected: number | null;
  /** with removeText / keepText / recognize: X-Text-Lines-Read, -Removed, -Partly-Removed, -Kept */
  textLinesRead: number | null;
  textLinesRemoved: number | null;
  textLinesPartlyRemoved: number | null;
  textLinesKept: number | null;
  /** X-Text-Patterns-Unmatched: patterns that matched no line */
  textPatternsUnmatched: number | null;
  /** X-Regions-Outside-Image: regions wholly outside the image, where nothing was removed (null: none) */
  regionsOutsideImage: number | null;
  /** X-Mask-Scaled-From: "WxH", a mask of another size that was scaled to the image */
  maskScaledFrom: string | null;
  /** verification (null with verify: false): X-Regions-Checked, X-Regions-Repaired, X-Residual-Text (0-1) */
  regionsChecked: number | null;
  regionsRepaired: number | null;
  residualText: number | null;
  /** X-Timestamp, ISO 8601 */
  timestamp: string | null;
  /** X-Task-Id (task results) */
  taskId: string | null;
  headers: Headers;
}

export interface Health {
  status: 'healthy' | string;
  message: string;
  timestamp: string;
  version: string;
  [diagnostic: string]: unknown;
}

export interface ModelInfo {
  name: string | null;
  device: string;
  status: string;
  parameters: Record<string, unknown>;
  [extra: string]: unknown;
}

export interface ServiceInfo {
  name: string;
  version: string;
  model: ModelInfo;
  capabilities: string[];
  limits: { max_image_size: number; max_file_size: number; request_timeout: number; [extra: string]: unknown };
  [extra: string]: unknown;
}

export interface ProcessingStats {
  regions_processed: number;
  total_area: number;
  processing_time: number;
  image_dimensions: { width: number; height: number };
  mask_area?: number | null;
  crops?: number | null;
  stage_times?: Record<string, number> | null;
  text_lines_detected?: number | null;
  /** regions wholly outside the image: nothing was removed there */
  regions_outside_image?: number;
  /** an uploaded mask's own size, when it was not the image's and was scaled to it */
  mask_scaled_from?: { width: number; height: number } | null;
  /** with remove_text, keep_text, recognize or describe: what was read, removed and kept */
  text_lines?: TextLines | null;
  /** the check for text left behind (null with verify: false) */
  verification?: { regions_checked: number; regions_repaired: number; residual_max: number } | null;
  [extra: string]: unknown;
}

export interface TextLine {
  bounding_box: BoundingBox;
  status: 'removed' | 'partly_removed' | 'kept';
  /** the patterns that decided it */
  matched: string[];
  /** the recognizer's confidence, 0-1 (null where the line was not read: describe alone) */
  text_score: number | null;
  /** what the line says: only with recognize: true */
  text?: string;
  /** how the line looks: only with describe: true */
  style?: Style | null;
}

/** How a line looks (API.md, "Describing a line"); a field is null where it was not measured. */
export interface Style {
  /** #rrggbb: the ink's dominant colour */
  text_color: string | null;
  /** #rrggbb: the colour around the line */
  background_color: string | null;
  /** CIE76 delta E, 90th percentile of the ink about text_color: 0-5 flat, 20 and more a gradient */
  text_color_spread: number | null;
  /** a band of a third colour around the ink: colour and width in px */
  outline: { color: string; width: number } | null;
  /** a copy of the ink offset by [dx, dy] px (+x right, +y down) */
  shadow: { color: string; offset: [number, number] } | null;
  /** px: the em size of a font that renders the line at its measured height */
  font_size: number | null;
  /** degrees of the baseline, counter-clockwise positive as seen on screen */
  angle: number;
  /** a top-to-bottom line */
  vertical: boolean;
  bold: boolean | null;
}

export interface TextLines {
  found: number;
  read: number;
  removed: number;
  partly_removed: number;
  kept: number;
  /** patterns that matched no line (and so removed or kept nothing) */
  unmatched_patterns: string[];
  lines: TextLine[];
}

export interface RegionsJsonResult {
  success: boolean;
  message: string;
  processing_stats: ProcessingStats;
  timestamp: string;
}

export interface DetectRequest extends CallOptions {
  image: ImageInput;
  /** search only inside these regions */
  regions?: Region[];
  /** also read each line: `text` and `text_score` per region */
  recognize?: boolean;
  /** also measure how each line looks: `style` per region */
  describe?: boolean;
  [extra: string]: unknown;
}

/** A detected text line; usable as a Region as it is. */
export interface DetectedRegion extends PolygonRegion {
  points: Array<[number, number]>;
  bounding_box: BoundingBox;
  score: number;
  /** what the line says (recognize: true) */
  text?: string;
  /** the recognizer's confidence, 0-1 (recognize: true) */
  text_score?: number;
  /** how the line looks (describe: true) */
  style?: Style | null;
}

export interface DetectResult {
  regions: DetectedRegion[];
  image_dimensions: { width: number; height: number };
  processing_time: number;
  [extra: string]: unknown;
}

// ---------------------------------------------------------------- rewriting text (replace-text)

/**
 * What to change of the look the service measures on the old text: a field given replaces the
 * measure, a field left out is measured; `outline: null` / `shadow: null` ask for none.
 */
export interface LineStyle {
  /** #rrggbb */
  text_color?: string;
  outline?: { color: string; width: number } | null;
  /** offset: [dx, dy] px, +x right, +y down */
  shadow?: { color: string; offset: [number, number] } | null;
  /** px, the em size to start from (it shrinks where the text would leave its box) */
  font_size?: number;
  /** degrees of the baseline, counter-clockwise positive on screen */
  angle?: number;
  vertical?: boolean;
  bold?: boolean;
  /** 'sans' (default), 'serif', or an installed family (fonts()) */
  font?: 'sans' | 'serif' | (string & {});
}

/** One line to rewrite: where the old text is, the new text (empty: only removed), its look. */
export interface Line {
  region: Region;
  text: string;
  style?: LineStyle;
  /** where a shorter text sits: from where the old text started (default), its centre, or its end */
  align?: 'start' | 'center' | 'end';
}

/** replace-text takes the inpainting parameters (padding, mask_mode, output_format, quality, verify). */
export type ReplaceParams = InpaintParams;

export interface ReplaceRequest extends ReplaceParams, CallOptions {
  image: ImageInput;
  lines: Line[];
}

/** replace-text's image answer: per line (in the lines' order) what was written. */
export interface ReplaceResult extends ImageResult {
  /** X-Lines-Written: lines new text was written in */
  linesWritten: number | null;
  /** X-Font-Sizes: the em size written per line, px (null: an empty text, nothing written) */
  fontSizes: Array<number | null>;
  /** X-Text-Shrunk: per line, true where the text was made smaller to fit its box */
  shrunk: boolean[];
  /** X-Text-Truncated: per line, true where the text fits its box at no size down to 4 px (written at 4 px, cut) */
  truncated: boolean[];
}

export interface WrittenLine {
  /** the face written in (null: an empty text, nothing written) */
  font: string | null;
  /** px, the em size written */
  font_size: number | null;
  /** made smaller than wanted_size to fit its box */
  shrunk: boolean;
  /** too long for its box even at 4 px: written at 4 px and cut at the box's reach */
  truncated: boolean;
  /** px, the em size measured on the old text (or given) */
  wanted_size: number | null;
  /** the look written: the measure, with the given fields in its place */
  style: Style;
  [extra: string]: unknown;
}

export interface ReplaceJsonResult {
  success: boolean;
  message: string;
  lines: WrittenLine[];
  processing_stats: ProcessingStats;
  timestamp: string;
}

export interface Font {
  /** e.g. "DejaVu Sans Bold" */
  name: string;
  /** what a line's style.font names */
  family: string;
  bold: boolean;
  /** `own`: from the service's FONTS_DIR */
  kind: 'sans' | 'serif' | 'sans-cjk' | 'serif-cjk' | 'own';
}

export interface FontList { fonts: Font[] }

export type TaskState = 'pending' | 'preparing' | 'processing' | 'completed' | 'error' | 'cancelled';
export type TaskStage = 'preparing' | 'masking' | 'inpainting' | 'finalizing' | string;

export interface SubmitAnswer {
  task_id: string;
  status: 'pending' | string;
  message: string;
  estimated_time: number | null;
  websocket_url: string | null;
  status_url?: string;
  result_url?: string;
}

export interface TaskStatus {
  task_id: string;
  status: TaskState;
  stage: TaskStage | null;
  /** 0-100, never goes down, 100 on completed */
  overall_progress: number;
  stage_progress: number;
  current_region: number;
  total_regions: number;
  message: string;
  elapsed_time: number;
  estimated_remaining: number | null;
  error: string | null;
  created_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  [extra: string]: unknown;
}

export interface TaskCounts {
  total_tasks: number;
  active_tasks: number;
  completed_tasks: number;
  error_tasks: number;
  active_task_ids: string[];
  [extra: string]: unknown;
}

export interface CancelAnswer { task_id: string; status: 'cancelled'; message: string }

// ---------------------------------------------------------------- WebSocket messages

interface MessageBase { timestamp: string; [extra: string]: unknown }
export interface ConnectionEstablished extends MessageBase { type: 'connection_established'; connection_id: string; task_id: string | null }
export interface TaskSubscribed extends MessageBase { type: 'task_subscribed'; task_id: string }
export interface TaskUnsubscribed extends MessageBase { type: 'task_unsubscribed'; task_id: string }
export interface ProgressUpdate extends MessageBase {
  type: 'progress_update';
  task_id: string;
  status: TaskState;
  stage: TaskStage | null;
  overall_progress: number;
  /** the same as overall_progress (older front ends read it) */
  progress: number;
  stage_progress: number;
  current_region: number;
  total_regions: number;
  message: string;
  elapsed_time: number;
  estimated_remaining: number | null;
  error: string | null;
  result_path: string | null;
}
export interface TaskCompleted extends MessageBase { type: 'task_completed'; task_id: string; result_path: string | null; elapsed_time: number; total_regions: number }
export interface TaskFailed extends MessageBase { type: 'task_failed'; task_id: string; error: string; error_message?: string; elapsed_time: number }
export interface TaskCancelled extends MessageBase { type: 'task_cancelled'; task_id: string; elapsed_time: number }
export interface Pong extends MessageBase { type: 'pong' }
export interface ErrorMessage extends MessageBase { type: 'error'; message: string; task_id?: string }

export type ProgressMessage =
  | ConnectionEstablished | TaskSubscribed | TaskUnsubscribed | ProgressUpdate
  | TaskCompleted | TaskFailed | TaskCancelled | Pong | ErrorMessage;

export type ClientMessage =
  | { type: 'subscribe_task' | 'unsubscribe_task' | 'get_task_status' | 'cancel_task'; task_id: string }
  | { type: 'ping' };

/** A WebSocket constructor: the browser's / Node 22's global, or the `ws` package's default export. */
export type WebSocketConstructor = new (url: string) => any;

/**
 * Messages of one progress connection. Buffered from the start; iteration ends after the task's
 * final message (task_completed / task_failed / task_cancelled) and the socket is closed with 1000.
 * A connection lost before that throws ServiceError code "connection_closed".
 */
export declare class ProgressStream implements AsyncIterableIterator<ProgressMessage> {
  readonly taskId: string;
  readonly url: string;
  /** from connection_established */
  connectionId: string | null;
  /** resolves with the `task_subscribed` message: on the general channel, submit after this */
  readonly ready: Promise<TaskSubscribed>;
  send(msg: ClientMessage | string): void;
  close(): void;
  next(): Promise<IteratorResult<ProgressMessage>>;
  return(): Promise<IteratorResult<ProgressMessage>>;
  [Symbol.asyncIterator](): ProgressStream;
}

export interface ClientOptions {
  /** default "http://localhost:8081" */
  baseUrl?: string;
  /** sent as `X-API-Key` (or `Authorization: Bearer`, see authScheme); WebSockets get `?api_key=` */
  apiKey?: string;
  authScheme?: 'x-api-key' | 'bearer';
  /** default globalThis.fetch */
  fetch?: typeof fetch;
  /** default globalThis.WebSocket; on Node 18-21 pass the `ws` package's WebSocket; null turns WebSockets off */
  WebSocket?: WebSocketConstructor | null;
  /** extra headers on every request */
  headers?: Record<string, string>;
  /** default timeout of an HTTP request in ms (0 = none) */
  timeout?: number;
  /**
   * 'multipart' (default): image and mask travel as multipart/form-data files, no base64;
   * 'json': base64 in JSON bodies (also used whenever an image is given as a base64 string)
   */
  transport?: 'multipart' | 'json';
}

export interface RemoveRequest extends SubmitRequest {
  /** each progress_update (or, when polling without a WebSocket, each task-status answer) */
  onProgress?: (msg: ProgressUpdate | TaskStatus) => void;
}

export interface RemoveResult extends ImageResult { taskId: string }

export declare class TextRemovalClient {
  constructor(options?: ClientOptions);
  readonly baseUrl: string;
  apiKey: string | null;

  /** ws(s)://host/api/v1/ws/progress[/taskId][?api_key=...] */
  websocketUrl(taskId?: string): string;

  root(opts?: CallOptions): Promise<Record<string, unknown>>;
  /** answers the body also on 503 (starting/broken): check `status === "healthy"` */
  health(opts?: CallOptions): Promise<Health>;
  waitUntilHealthy(opts?: { timeout?: number; interval?: number; signal?: AbortSignal }): Promise<Health>;
  model(opts?: CallOptions): Promise<ModelInfo>;
  info(opts?: CallOptions): Promise<ServiceInfo>;

  inpaint(params: InpaintRequest, opts?: CallOptions): Promise<ImageResult>;
  inpaintRegions(params: RegionsRequest, opts?: CallOptions): Promise<ImageResult>;
  inpaintRegionsJson(params: RegionsRequest, opts?: CallOptions): Promise<RegionsJsonResult>;
  detectText(params: DetectRequest, opts?: CallOptions): Promise<DetectResult>;

  /** rewrite each line's text in its own look; the image, with per-line fontSizes and shrunk */
  replaceText(request: ReplaceRequest, opts?: CallOptions): Promise<ReplaceResult>;
  replaceText(image: ImageInput, lines: Line[], options?: ReplaceParams & CallOptions): Promise<ReplaceResult>;
  /** as replaceText; answers what was written per line (font, font_size, shrunk, wanted_size, style) */
  replaceTextJson(request: ReplaceRequest, opts?: CallOptions): Promise<ReplaceJsonResult>;
  replaceTextJson(image: ImageInput, lines: Line[], options?: ReplaceParams & CallOptions): Promise<ReplaceJsonResult>;
  /** the installed fonts a line's style.font may name */
  fonts(opts?: CallOptions): Promise<FontList>;

  submit(params: SubmitRequest, opts?: CallOptions): Promise<SubmitAnswer>;
  submitBatch(items: BatchItem[], options?: BatchOptions, opts?: CallOptions): Promise<SubmitAnswer>;
  submitBatch(request: BatchOptions & { items: BatchItem[] }, opts?: CallOptions): Promise<SubmitAnswer>;
  taskStatus(taskId: string, opts?: CallOptions): Promise<TaskStatus>;
  cancelTask(taskId: string, opts?: CallOptions): Promise<CancelAnswer>;
  /** the finished image (a ZIP for a batch); ServiceError 409 task_not_finished until then */
  taskResult(taskId: string, opts?: CallOptions): Promise<ImageResult>;
  taskItemResult(taskId: string, index: number, opts?: CallOptions): Promise<ImageResult>;
  tasks(opts?: CallOptions): Promise<TaskCounts>;
  /** polls task-status until completed / error / cancelled */
  waitForTask(taskId: string, opts?: { interval?: number; timeout?: number; signal?: AbortSignal; onProgress?: (s: TaskStatus) => void }): Promise<TaskStatus>;

  /** WS /api/v1/ws/progress/{taskId}: subscribed from the start */
  progress(taskId: string, opts?: { signal?: AbortSignal }): ProgressStream;
  /** WS /api/v1/ws/progress + subscribe_task: await `.ready`, then submit with the same taskId */
  watch(taskId: string, opts?: { signal?: AbortSignal }): ProgressStream;

  /** subscribe, submit, follow progress, fetch the result; failed/cancelled tasks throw ServiceError */
  remove(params: RemoveRequest, opts?: CallOptions): Promise<RemoveResult>;
}

export declare class ServiceError extends Error {
  constructor(message: string, info?: {
    status?: number; code?: string; detail?: unknown; body?: unknown; headers?: Headers | null;
    retryAfter?: number | null; errors?: unknown[] | null; cause?: unknown;
  });
  /** HTTP status; 0 for network / WebSocket / client-side failures */
  status: number;
  /** the JSON `error` code (e.g. "task_not_found", "invalid_input"), or network_error,
   *  connection_closed, connection_error, client_timeout, task_failed, task_cancelled, ... */
  code: string;
  /** the JSON `detail` (human-readable) */
  detail: unknown;
  /** the parsed error body */
  body: unknown;
  headers: Headers | null;
  /** Retry-After in seconds (429/503) */
  retryAfter: number | null;
  /** field errors of a 422 */
  errors: Array<{ loc: Array<string | number>; msg: string; type: string }> | null;
}

export declare function toBase64(image: ImageInput): Promise<string>;
export declare function bytesToBase64(bytes: Uint8Array): string;
export declare function base64ToBytes(b64: string): Uint8Array;

export default TextRemovalClient;

// ---------------------------------------------------------------- signed callbacks

export declare const SIGNATURE_HEADER: 'X-IOPaint-Signature';
export declare const DELIVERY_HEADER: 'X-IOPaint-Delivery';

/** A callback whose signature is missing, malformed, wrong, or older than the tolerance. */
export declare class InvalidSignature extends Error {
  constructor(message: string);
  readonly code: 'invalid_signature';
}

export interface VerifySignatureOptions {
  /** Seconds a signature stays valid (default 300). */
  tolerance?: number;
  /** The current unix time in seconds (default: the clock). */
  now?: number;
}

/**
 * Check a callback's X-IOPaint-Signature against the raw request body (before any JSON parsing).
 * Resolves to the signed unix time; rejects with InvalidSignature otherwise.
 */
export declare function verifySignature(
  body: string | Uint8Array | ArrayBuffer | ArrayBufferView,
  signature: string | null | undefined,
  secret: string,
  options?: VerifySignatureOptions,
): Promise<number>;
