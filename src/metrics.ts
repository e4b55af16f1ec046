import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The per-stream model counters /metrics exports, as the model side reports them (the engine's
 * stats satisfy it): declared here so that the metrics sit below the model in the import graph.
 */
export interface ModelStreamStats {
  framesProcessed: number;
  framesSkipped: number;
  framesRejected: number;
  framesOutOfWorld: number;
  lines: number;
  answers: number;
  lastStepMs: number;
  lastDecisionLatencyMs: number;
  content: 'recognised' | 'unrecognised';
  inWorldScore: number;
  linesDropped: Record<string, number>;
  tokensFed: number;
  tokensSkipped: number;
}

/** Reads every open stream's model counters at scrape time. */
export type ModelStatsSource = () => Iterable<[string, ModelStreamStats]>;

/**
 * One Prometheus registry per app (not prom-client's global one), so several apps in one
 * process (tests) never collide. Per-stream series carry the stream NAME, never its key.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly framesDecoded: Counter<'stream'>;
  readonly framesSampled: Counter<'stream'>;
  readonly framesDropped: Counter<'stream'>;
  readonly decodeErrors: Counter<'stream'>;
  readonly decoderRestarts: Counter<'stream'>;
  readonly publishes: Counter<'stream' | 'protocol'>;
  readonly reconnects: Counter<'stream'>;
  /** Refused publishes: unknown-key, busy (second publisher), no-video, undecodable, no-frames. */
  readonly refused: Counter<'reason' | 'protocol'>;
  /** Connections that broke the RTMP protocol (garbage, malformed connect). */
  readonly protocolErrors: Counter<'protocol'>;
  readonly liveStreams: Gauge;
  readonly firstFrameSeconds: Histogram;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const stream = ['stream'] as const;
    this.framesDecoded = new Counter({ name: 'kibitz_frames_decoded_total', help: 'Video frames received and handed to the decoder', labelNames: stream, registers });
    this.framesSampled = new Counter({ name: 'kibitz_frames_sampled_total', help: 'Frames sampled at the model rate', labelNames: stream, registers });
    this.framesDropped = new Counter({ name: 'kibitz_frames_dropped_total', help: 'Sampled frames dropped from a full frame queue', labelNames: stream, registers });
    this.decodeErrors = new Counter({ name: 'kibitz_decode_errors_total', help: 'Decoder runs that ended abnormally', labelNames: stream, registers });
    this.decoderRestarts = new Counter({ name: 'kibitz_decoder_restarts_total', help: 'Decoder restarts while the publisher stayed connected', labelNames: stream, registers });
    this.publishes = new Counter({ name: 'kibitz_publishes_total', help: 'Accepted publishes (including reconnects)', labelNames: ['stream', 'protocol'], registers });
    this.reconnects = new Counter({ name: 'kibitz_reconnects_total', help: 'Publisher reconnects within the grace period', labelNames: stream, registers });
    this.refused = new Counter({ name: 'kibitz_publishes_refused_total', help: 'Refused or failed publishes by reason', labelNames: ['reason', 'protocol'], registers });
    this.protocolErrors = new Counter({ name: 'kibitz_ingest_protocol_errors_total', help: 'Connections dropped for protocol errors', labelNames: ['protocol'], registers });
    this.liveStreams = new Gauge({ name: 'kibitz_streams_live', help: 'Streams currently live or reconnecting', registers });
    this.firstFrameSeconds = new Histogram({
      name: 'kibitz_publish_first_frame_seconds', help: 'Time from publish to the first sampled frame', registers,
      buckets: [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'kibitz_' });
  }

  /** Export the model's per-stream counters (embedded engine or a worker), read at scrape time. */
  addModelStats(read: ModelStatsSource): void {
    const registers = [this.registry];
    new Gauge({
      name: 'kibitz_model_frames', help: 'Frames per stream by what the model did with them (processed, skipped when behind, rejected for a wrong size, out_of_world: processed but outside the package\'s world)',
      labelNames: ['stream', 'result'], registers,
      collect() {
        this.reset();
        for (const [stream, s] of read()) {
          this.set({ stream, result: 'processed' }, s.framesProcessed);
          this.set({ stream, result: 'skipped' }, s.framesSkipped);
          this.set({ stream, result: 'rejected' }, s.framesRejected);
          this.set({ stream, result: 'out_of_world' }, s.framesOutOfWorld);
        }
      },
    });
    const each = (name: string, help: string, pick: (s: ModelStreamStats) => number) =>
      new Gauge({
        name, help, labelNames: ['stream'], registers,
        collect() {
          this.reset();
          for (const [stream, s] of read()) this.set({ stream }, pick(s));
        },
      });
    new Gauge({
      name: 'kibitz_model_vision_tokens', help: 'Vision tokens of decided frames per stream: fed to the decoder, or skipped by the package\'s temporal token drop (unchanged since last fed)',
      labelNames: ['stream', 'result'], registers,
      collect() {
        this.reset();
        for (const [stream, s] of read()) {
          this.set({ stream, result: 'fed' }, s.tokensFed);
          this.set({ stream, result: 'skipped' }, s.tokensSkipped);
        }
      },
    });
    each('kibitz_model_lines', 'Commentary lines spoken per stream', (s) => s.lines);
    new Gauge({
      name: 'kibitz_model_lines_dropped', help: 'Generated lines the guards did not let out, per stream and rule (repetition, too_long, low_confidence, duplicate, out_of_world)',
      labelNames: ['stream', 'reason'], registers,
      collect() {
        this.reset();
        for (const [stream, s] of read()) for (const [reason, n] of Object.entries(s.linesDropped)) this.set({ stream, reason }, n);
      },
    });
    each('kibitz_model_in_world', '1 while the stream shows the model package\'s world, 0 while it does not recognise it', (s) => (s.content === 'recognised' ? 1 : 0));
    each('kibitz_model_in_world_score', 'The last frame\'s in-world score', (s) => s.inWorldScore);
    each('kibitz_model_answers', 'Questions answered per stream', (s) => s.answers);
    each('kibitz_model_step_seconds', 'Last frame step (vision share + decoder + decision) per stream', (s) => s.lastStepMs / 1000);
    each('kibitz_model_decision_latency_seconds', 'Last frame decoded -> decision made, per stream', (s) => s.lastDecisionLatencyMs / 1000);
  }

  /** Export plugin counters (the plugin host's), read at scrape time. */
  addPluginCounters(read: () => { plugin: string; counter: string; value: number }[]): void {
    new Gauge({
      name: 'kibitz_plugin_counter',
      help: 'Plugin counters since the plugin last (re)started: messages sent/merged/dropped, webhook deliveries/failures',
      labelNames: ['plugin', 'counter'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of read()) this.set({ plugin: c.plugin, counter: c.counter }, c.value);
      },
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
