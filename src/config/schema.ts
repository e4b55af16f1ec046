import { z } from 'zod';
import { checkView, type FrameScaler, type FrameView } from '../decode/filter.ts';
import type { ReferenceSpec } from '../view/reference.ts';
import { queueSchema } from './queue.ts';
import { bool, num, port } from '../config_values.ts';
import { whipConfigSchema } from './whip.ts';
import { questionLimitsSchema } from '../questions/policy.ts';

/** Names and keys end up in RTMP paths (node-media-server accepts only these characters) and in file names. */
const SAFE = /^[A-Za-z0-9_-]+$/;

export const streamSchema = z.object({
  /** Public name: used in URLs, logs, metrics, plugin routes. */
  name: z.string().min(1).max(64).regex(SAFE, 'use letters, digits, "-" and "_" only'),
  /** Secret stream key (what OBS puts after rtmp://HOST:1935/live/). "auto": generated once, kept in <dataDir>/keys/<name>.key. */
  key: z.string().min(1, 'is empty (set it in the config file or through the environment)').max(256)
    .regex(SAFE, 'use letters, digits, "-" and "_" only (OBS stream keys of that form)'),
  /** Per-stream decision threshold for the model (overrides model.threshold). */
  threshold: num().pipe(z.number().min(0).max(1)).optional(),
  /** Plugin routes; validated by the plugins. */
  discord: z.looseObject({}).optional(),
  twitch: z.looseObject({}).optional(),
}).loose();

export const configSchema = z.object({
  http: z.object({ host: z.string().min(1).default('127.0.0.1'), port: port().default(8080) }).prefault({}),
  rtmp: z.object({ host: z.string().min(1).default('0.0.0.0'), port: port().default(1935) }).prefault({}),
  /** Where timelines, generated stream keys and node-media-server's store live. */
  dataDir: z.string().min(1).default('./data'),
  log: z.object({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    /** pretty: one readable line per entry; json: pino's JSON; auto: pretty on a terminal. */
    format: z.enum(['auto', 'pretty', 'json']).default('auto'),
  }).prefault({}),
  ffmpeg: z.object({ path: z.string().min(1).optional() }).prefault({}),
  model: z.object({
    /** Model package folder (models/<name>); absent = no model (ingest only). */
    package: z.string().min(1).optional(),
    provider: z.enum(['cpu', 'webgpu', 'cuda']).default('cpu'),
    /** Sampling rate of frames fed to the model. */
    fps: num().pipe(z.number().positive().max(30)).default(2),
    threshold: num().pipe(z.number().min(0).max(1)).optional(),
    /** The temporal token drop (models/CONTRACT.md): auto = as the package says; on needs a package trained with it. */
    temporal: z.enum(['auto', 'on', 'off']).default('auto'),
    /** ONNX Runtime threads (src/model/threading.ts has the measured trade-off). */
    threads: z.object({
      intraOp: z.union([z.literal('auto'), num().pipe(z.number().int().min(1).max(256))]).default('auto'),
      interOp: z.union([z.literal('auto'), num().pipe(z.number().int().min(1).max(256))]).default('auto'),
      spinning: bool().default(false),
    }).prefault({}),
  }).loose().prefault({}),
  /** Where frames go to the model: in this process (embedded) or through Redis to workers (queue.ts). */
  queue: queueSchema,
  /** Frame size fed to the model; defaults to the model manifest's frame size, else 192x108. */
  decode: z.object({
    width: num().pipe(z.number().int().min(16).max(4096).multipleOf(2)).optional(),
    height: num().pipe(z.number().int().min(16).max(4096).multipleOf(2)).optional(),
    /**
     * Pins the part of the streamer's canvas the model looks at: [x, y, w, h] in fractions of it
     * (env KIBITZ_DECODE_VIEW="x,y,w,h"). Absent: the package's own view, which the view search
     * (src/view/) moves to wherever the package's picture is, for packages with a view reference.
     */
    view: z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((x) => Number(x.trim())) : v), z.array(z.number()).superRefine((v, ctx) => {
      try {
        checkView(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })).optional(),
  }).prefault({}),
  ingest: z.object({
    /** A publisher that reconnects within this time keeps its session and stream time. */
    graceMs: num().pipe(z.number().int().min(0)).default(60_000),
    /** Sampled frames waiting for the model, per stream; the oldest are dropped beyond this. */
    frameQueueCapacity: num().pipe(z.number().int().min(1).max(10_000)).default(8),
    /** Backoff when the decoder dies while the publisher is connected. */
    restartMinMs: num().pipe(z.number().int().min(0)).default(250),
    restartMaxMs: num().pipe(z.number().int().min(0)).default(5_000),
    /** A publish that yields no frame within this time is reported and ended (audio only, undecodable video). */
    firstFrameTimeoutMs: num().pipe(z.number().int().min(500)).default(15_000),
    /** Only loopback clients may play streams back over RTMP (kibitz's decoder reads publishes in process); true lets anyone with the key watch. */
    allowRemotePlay: bool().default(false),
  }).prefault({}),
  streams: z.array(streamSchema).default([]),
  /**
   * The question policy every way in shares (HTTP /ask, every chat, what goes to Redis workers):
   * src/questions/gate.ts applies it, once per request.
   */
  questions: questionLimitsSchema.optional(),
  /**
   * Per-plugin options (console, overlay, discord, twitch, webhook), validated by the plugin host.
   * `plugins.questions` is the old place of `questions` (still read; the app logs that it moved).
   */
  plugins: z.object({ questions: questionLimitsSchema.optional() }).catchall(z.unknown()).default({}),
  /** WebRTC ingest (OBS 30+ "WHIP" service); see src/ingest/whip/README.md. */
  whip: whipConfigSchema,
}).strict();

export type ParsedConfig = z.output<typeof configSchema>;
export type StreamConfig = z.output<typeof streamSchema>;

/** The validated config with everything resolved (decode size filled in, auto keys generated). */
export type Config = Omit<ParsedConfig, 'decode'> & {
  /**
   * `view`: the part of the screen the model looks at first (pinned in the config, else the
   * manifest's frame.view), cropped before scaling; `viewFrom` says when the config pinned it. `search`: the view
   * search's reference (absolute file) when the package has one and no view is pinned.
   */
  decode: {
    width: number; height: number; view?: FrameView; scaler?: FrameScaler;
    viewFrom?: 'config';
    search?: { reference: ReferenceSpec; fit: 'stretch' | 'letterbox' };
  };
  /** The file the config came from (besides the default), for messages. */
  source?: string;
};
