import type { EventBus } from '../bus.ts';
import type { Config } from '../config/schema.ts';
import type { DecoderInput } from '../decode/decoder.ts';
import type { FfmpegInfo } from '../ffmpeg.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { ViewFinder } from '../view/finder.ts';
import { loadViewReference } from '../view/reference.ts';
import type { ViewReference } from '../view/search.ts';
import { Publish, type PublishFailure } from './publish.ts';
import { StreamSession } from './session.ts';

export type PublishErrorCode = 'UNKNOWN_STREAM' | 'ALREADY_PUBLISHING' | 'SHUTTING_DOWN';

export class PublishError extends Error {
  constructor(readonly code: PublishErrorCode, message: string) {
    super(message);
    this.name = 'PublishError';
  }
}

export const PUBLISH_ERROR_HTTP: Record<PublishErrorCode, number> = { UNKNOWN_STREAM: 404, ALREADY_PUBLISHING: 409, SHUTTING_DOWN: 503 };

export interface PublishRequest {
  /** Stream NAME (the ingest has already matched the key). */
  stream: string;
  /** "rtmp", "whip", ... */
  protocol: string;
  /** Called for every decoder (re)start: a fresh input each time (stdin streams cannot be replayed). */
  input: () => DecoderInput;
  ip?: string;
  /** StreamSessions calls this to drop the publisher (fatal input error, shutdown). */
  disconnect?: (reason: string) => void;
}

export interface PublishHandle {
  readonly session: StreamSession;
  readonly active: boolean;
  /** The ingest counts compressed video frames it hands to the decoder (framesDecoded). */
  inputFrames(n?: number): void;
  /** The publisher is gone: the session waits `graceMs` for a reconnect, then ends. Idempotent. */
  end(): void;
  /** For tests: the current decoder's pid. */
  readonly decoderPid: number | undefined;
}

export interface RegistryOptions {
  config: Config;
  /** Known once the app has probed it (start()); set later with useFfmpeg(). */
  ffmpeg?: FfmpegInfo;
  bus: EventBus;
  metrics: Metrics;
  log: Logger;
}

interface Entry {
  session: StreamSession;
  publish: Publish | null;
  disconnect?: (reason: string) => void;
  graceTimer: NodeJS.Timeout | null;
}

/**
 * All stream sessions by name (the live ones and the latest ended one per name). The only
 * place that creates, resumes and ends sessions.
 */
export class StreamSessions {
  private readonly entries = new Map<string, Entry>();
  private readonly sessionListeners = new Set<(s: StreamSession) => void>();
  private readonly beforeNewSession = new Set<(name: string) => void>();
  private closed = false;
  /** The package's view reference, read once (undefined: not read yet; null: no search). */
  private reference: ViewReference | null | undefined;

  constructor(private readonly opts: RegistryOptions) {}

  /** Set once ffmpeg has been resolved (before the first publish). */
  useFfmpeg(ffmpeg: FfmpegInfo): void {
    this.opts.ffmpeg = ffmpeg;
  }

  /** The running decoder's pid for a stream (diagnostics, tests). */
  decoderPid(name: string): number | undefined {
    return this.entries.get(name)?.publish?.decoderPid;
  }

  /** Configured stream names. */
  get streamNames(): string[] {
    return this.opts.config.streams.map((s) => s.name);
  }

  isConfigured(name: string): boolean {
    return this.opts.config.streams.some((s) => s.name === name);
  }

  get(name: string): StreamSession | undefined {
    return this.entries.get(name)?.session;
  }

  list(): StreamSession[] {
    return [...this.entries.values()].map((e) => e.session);
  }

  /** `cb` runs for every new session (not for reconnects: the session object stays the same). */
  onSession(cb: (s: StreamSession) => void): () => void {
    this.sessionListeners.add(cb);
    return () => this.sessionListeners.delete(cb);
  }

  /** Runs before a new session's first event (the timeline starts a new file there). */
  onBeforeNewSession(cb: (name: string) => void): () => void {
    this.beforeNewSession.add(cb);
    return () => this.beforeNewSession.delete(cb);
  }

  /** The package's view reference, read on first use; null (and one warning) when there is none or it is unreadable. */
  private viewReference(): ViewReference | null {
    if (this.reference !== undefined) return this.reference;
    const search = this.opts.config.decode.search;
    this.reference = null;
    if (!search) return null;
    try {
      this.reference = loadViewReference(search.reference);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'view search off: the package\'s view reference cannot be read; the model looks where the package says');
    }
    return this.reference;
  }

  /**
   * A publisher arrived for `stream`: resume its session within the grace period, or start a
   * new one. Throws PublishError ALREADY_PUBLISHING while another publisher is connected.
   */
  startPublish(req: PublishRequest): PublishHandle {
    const { config, bus, metrics, log, ffmpeg } = this.opts;
    if (!ffmpeg) throw new Error('no ffmpeg yet: the app accepts publishes only after start()');
    if (this.closed) throw new PublishError('SHUTTING_DOWN', 'kibitz is shutting down');
    if (!this.isConfigured(req.stream)) throw new PublishError('UNKNOWN_STREAM', `no stream named "${req.stream}"`);
    let entry = this.entries.get(req.stream);
    if (entry?.publish) {
      metrics.refused.inc({ reason: 'busy', protocol: req.protocol });
      bus.publish({ stream: req.stream, kind: 'status', status: 'refused', text: `a second publisher (${req.protocol}) was refused: the stream is already live`, streamTimeMs: Math.round(entry.session.streamTimeMs) });
      throw new PublishError('ALREADY_PUBLISHING', `stream "${req.stream}" already has a publisher`);
    }
    let resumed = false;
    if (entry && entry.session.state === 'reconnecting') {
      if (entry.graceTimer) clearTimeout(entry.graceTimer);
      entry.graceTimer = null;
      entry.session.state = 'live';
      entry.session.counters.reconnects++;
      metrics.reconnects.inc({ stream: req.stream });
      resumed = true;
    } else {
      for (const cb of this.beforeNewSession) cb(req.stream);
      const finder = this.viewReference() && config.decode.search
        ? new ViewFinder(this.reference!, config.decode.view ?? [0, 0, 1, 1])
        : undefined;
      const session = new StreamSession({
        name: req.stream, fps: config.model.fps, width: config.decode.width, height: config.decode.height, view: config.decode.view, scaler: config.decode.scaler,
        viewFrom: config.decode.viewFrom, ...(finder ? { finder, fit: config.decode.search!.fit } : {}),
        queueCapacity: config.ingest.frameQueueCapacity,
        onDrop: () => metrics.framesDropped.inc({ stream: req.stream }),
      });
      entry = { session, publish: null, graceTimer: null };
      this.entries.set(req.stream, entry);
      this.updateLiveGauge();
    }
    const e = entry;
    const session = e.session;
    session.publisher = { protocol: req.protocol, ip: req.ip, since: new Date().toISOString() };
    e.disconnect = req.disconnect;
    metrics.publishes.inc({ stream: req.stream, protocol: req.protocol });
    const publish = new Publish(session, req.input, {
      ffmpeg, restartMinMs: config.ingest.restartMinMs, restartMaxMs: config.ingest.restartMaxMs,
      firstFrameTimeoutMs: config.ingest.firstFrameTimeoutMs,
    }, {
      log, metrics,
      onStatus: (status, text) => this.status(session, status, text),
      onFailure: (f) => this.failPublish(e, publish, f, req.protocol),
    });
    e.publish = publish;
    if (!resumed) for (const cb of this.sessionListeners) {
      try {
        cb(session);
      } catch (err) {
        log.error({ err, stream: session.name }, 'onSession listener failed');
      }
    }
    log.info({ stream: req.stream, protocol: req.protocol }, resumed ? 'publisher reconnected; stream continues' : 'stream is live');
    this.status(session, 'live', resumed ? `publisher reconnected (${req.protocol}); stream time continues` : `stream started (${req.protocol})`);
    publish.start();

    const handle: PublishHandle = {
      session,
      get active() {
        return publish.active;
      },
      inputFrames: (n = 1) => {
        if (!publish.active) return;
        session.counters.framesDecoded += n;
        metrics.framesDecoded.inc({ stream: session.name }, n);
      },
      end: () => this.publisherGone(e, publish),
      get decoderPid() {
        return publish.decoderPid;
      },
    };
    return handle;
  }

  private publisherGone(e: Entry, publish: Publish): void {
    if (e.publish !== publish) return; // already ended (failure, shutdown) or superseded
    e.publish = null;
    e.disconnect = undefined;
    void publish.stop();
    const s = e.session;
    const graceMs = this.opts.config.ingest.graceMs;
    s.publisher = null;
    if (graceMs <= 0 || this.closed) {
      this.endSession(e, 'publisher disconnected');
      return;
    }
    s.state = 'reconnecting';
    this.opts.log.info({ stream: s.name, graceS: graceMs / 1000 }, 'publisher disconnected; waiting for a reconnect');
    this.status(s, 'reconnecting', `publisher disconnected; waiting ${Math.round(graceMs / 1000)} s for a reconnect`);
    e.graceTimer = setTimeout(() => {
      e.graceTimer = null;
      if (s.state === 'reconnecting') this.endSession(e, 'no reconnect within the grace period');
    }, graceMs);
  }

  private failPublish(e: Entry, publish: Publish, f: PublishFailure, protocol: string): void {
    if (e.publish !== publish) return;
    const s = e.session;
    this.opts.metrics.refused.inc({ reason: f.reason, protocol });
    this.opts.log.warn({ stream: s.name, reason: f.reason }, `publish refused: ${f.message}`);
    const neverLive = s.counters.framesSampled === 0;
    this.status(s, neverLive ? 'refused' : 'error', f.message);
    const disconnect = e.disconnect;
    e.publish = null;
    e.disconnect = undefined;
    void publish.stop();
    disconnect?.(f.message);
    this.endSession(e, f.message);
  }

  private endSession(e: Entry, reason: string): void {
    const s = e.session;
    if (s.state === 'ended') return;
    if (e.graceTimer) clearTimeout(e.graceTimer);
    e.graceTimer = null;
    s.end(reason);
    this.updateLiveGauge();
    this.opts.log.info({ stream: s.name, reason }, 'stream ended');
    this.status(s, 'ended', `stream ended: ${reason}`);
  }

  private status(s: StreamSession, status: string, text: string): void {
    this.opts.bus.publish({ stream: s.name, kind: 'status', status, text, streamTimeMs: Math.round(s.streamTimeMs) });
  }

  private updateLiveGauge(): void {
    this.opts.metrics.liveStreams.set(this.list().filter((s) => s.state !== 'ended').length);
  }

  /** Stops every decoder, drops publishers and ends all sessions. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const stops: Promise<void>[] = [];
    for (const e of this.entries.values()) {
      const p = e.publish;
      const disconnect = e.disconnect;
      e.publish = null;
      if (p) stops.push(p.stop());
      disconnect?.('kibitz is shutting down');
      this.endSession(e, 'kibitz shut down');
    }
    await Promise.all(stops);
  }
}
