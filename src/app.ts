import { mkdir } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from './api/server.ts';
import type { Brain } from './brain.ts';
import { EventBus } from './bus.ts';
import type { Config } from './config/schema.ts';
import { resolveFfmpeg, type FfmpegInfo } from './ffmpeg.ts';
import { PortInUseError, RtmpIngest } from './ingest/rtmp.ts';
import { registerWhip, type WhipIngest } from './ingest/whip/index.ts';
import { createLogger, type Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import type { ModelHost } from './model_host/port.ts';
import { QuestionGate } from './questions/gate.ts';
import { questionPolicyOf } from './questions/policy.ts';
import { ContentStates } from './stream/content_state.ts';
import { StreamSessions } from './stream/sessions.ts';
import type { StreamSession } from './stream/session.ts';
import { Timeline } from './timeline/timeline.ts';

export interface AppOptions {
  /**
   * Where the model runs (src/model_host/: embedded, or Redis workers); chosen once, here.
   * Without one the app ingests and serves, and questions get NO_MODEL.
   */
  modelHost?: ModelHost;
  log?: Logger;
  /** Resolved ffmpeg (tests and the demo resolve their own); resolved from config otherwise. */
  ffmpeg?: FfmpegInfo;
  /** SSE heartbeat interval (tests shorten it). */
  sseHeartbeatMs?: number;
}

export interface KibitzApp {
  readonly config: Config;
  readonly log: Logger;
  readonly bus: EventBus;
  readonly metrics: Metrics;
  readonly sessions: StreamSessions;
  readonly timeline: Timeline;
  readonly http: FastifyInstance & { readonly port: number };
  readonly rtmp: { readonly port: number };
  /** WebRTC ingest: POST /whip/:streamKey (OBS 30+ WHIP output, browsers). */
  readonly whip: WhipIngest;
  /** Resolved at start(). */
  readonly ffmpeg: FfmpegInfo | null;
  /** `cb` runs for every new stream session; attach a frame consumer with `session.frames(signal)`. */
  onSession(cb: (session: StreamSession) => void): () => void;
  /** The model host's brain (ask/summary); undefined when the app was built without a host. */
  readonly brain: Brain | undefined;
  /** The one door for questions and summaries (HTTP here, and the plugins' chats): src/questions/gate.ts. */
  readonly questions: QuestionGate;
  readonly modelHost: ModelHost | undefined;
  /** Run `fn` during close(), before the parts started here stop (plugins). */
  onClose(fn: () => unknown): void;
  start(signal?: AbortSignal): Promise<void>;
  /** Idempotent; tears down in reverse order of start. */
  close(): Promise<void>;
}

/**
 * Wires the service once: bus -> timeline, sessions (decode), RTMP ingest, HTTP API, and the
 * model host it is given. Nothing listens until start(); start() then starts the host (loads the
 * model, or connects to the workers' Redis) and hands it every stream session. Plugins subscribe
 * to the bus and register their own teardown with onClose().
 */
export function createApp(config: Config, opts: AppOptions = {}): KibitzApp {
  const log = opts.log ?? createLogger({ level: config.log.level, format: config.log.format });
  const bus = new EventBus((err) => log.error({ err }, 'event listener failed'));
  const metrics = new Metrics();
  const timeline = new Timeline({ dataDir: config.dataDir, bus, log });
  const contentStates = new ContentStates(bus);
  let ffmpeg: FfmpegInfo | null = opts.ffmpeg ?? null;
  const { modelHost } = opts;
  const brain = modelHost?.brain;
  if (config.plugins.questions !== undefined) {
    log.warn(`plugins.questions is deprecated: the question policy is not a plugin; move it to the top level as questions:${config.questions !== undefined ? ' (both are set: questions: is used)' : ''}`);
  }
  const questions = new QuestionGate(brain, questionPolicyOf(config));
  let stopConsuming: (() => void) | undefined;
  const closers: (() => unknown)[] = [];
  // ffmpeg is known for sure only after start() has probed it.
  const sessions = new StreamSessions({ config, bus, metrics, log });
  sessions.onBeforeNewSession((name) => timeline.beginSession(name));

  const http = createHttpServer({
    sessions, timeline, metrics, bus, log, questions, sseHeartbeatMs: opts.sseHeartbeatMs,
    streamInfo: (name) => ({ content: contentStates.get(name), ...modelHost?.streamInfo(name) }),
    health: () => ({ ffmpeg: ffmpeg?.version ?? null, model: config.model.package ?? null, brain: modelHost !== undefined && hostStarted }),
  }) as KibitzApp['http'];
  // WHIP adds its routes now: fastify takes no new routes once it listens.
  const whip = registerWhip(http, { config, sessions, log, metrics });
  let httpPort = 0;
  Object.defineProperty(http, 'port', { get: () => httpPort });

  let rtmp: RtmpIngest | null = null;
  let started = false;
  let hostStarted = false;
  let closing: Promise<void> | null = null;

  const app: KibitzApp = {
    config, log, bus, metrics, timeline, http, whip,
    sessions, brain, modelHost, questions,
    rtmp: { get port() { return rtmp?.port ?? 0; } },
    get ffmpeg() {
      return ffmpeg;
    },
    onSession(cb) {
      return sessions.onSession(cb);
    },
    onClose(fn) {
      closers.push(fn);
    },
    async start(signal) {
      if (started) throw new Error('app already started');
      started = true;
      signal?.addEventListener('abort', () => void app.close(), { once: true });
      if (!ffmpeg) ffmpeg = await resolveFfmpeg({ configPath: config.ffmpeg.path });
      sessions.useFfmpeg(ffmpeg);
      await mkdir(config.dataDir, { recursive: true });
      await timeline.start();
      rtmp = new RtmpIngest({
        host: config.rtmp.host, port: config.rtmp.port, streams: config.streams, sessions, metrics, log,
        allowRemotePlay: config.ingest.allowRemotePlay,
      });
      await rtmp.start();
      try {
        await http.listen({ host: config.http.host, port: config.http.port });
      } catch (err) {
        await rtmp.close();
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new PortInUseError('HTTP', config.http.host, config.http.port);
        throw err;
      }
      const addr = http.server.address();
      httpPort = typeof addr === 'object' && addr ? addr.port : config.http.port;
      if (modelHost) await startHost(modelHost, signal);
    },
    close() {
      closing ??= (async () => {
        // Reverse order of start: the model host, the attached parts, HTTP, sessions (decoders), ingest, timeline.
        stopConsuming?.();
        await modelHost?.close().catch((err: unknown) => log.error({ err }, 'model host close failed'));
        for (const fn of closers.reverse()) {
          try {
            await fn();
          } catch (err) {
            log.error({ err }, 'close hook failed');
          }
        }
        await http.close().catch((err: unknown) => log.error({ err }, 'http close failed'));
        // Sessions before the listener: publishers dropped by shutdown must not look like
        // dropouts waiting for a reconnect.
        await sessions.close();
        await rtmp?.close();
        await timeline.close();
        contentStates.close();
      })();
      return closing;
    },
  };

  /**
   * The model host starts once the app listens (a model loads for seconds; streams already
   * publishing wait in their bounded queues), then takes every live and every new session.
   */
  async function startHost(host: ModelHost, signal: AbortSignal | undefined): Promise<void> {
    await host.start({ config, log, bus, metrics, sessions }, signal);
    hostStarted = true;
    const consume = (s: StreamSession) => host.consume(s);
    stopConsuming = sessions.onSession(consume);
    for (const s of sessions.list()) if (s.state !== 'ended') consume(s);
  }
  return app;
}
