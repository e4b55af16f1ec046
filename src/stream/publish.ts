import { performance } from 'node:perf_hooks';
import type { GreyPicture } from '../decode/canvas_assembler.ts';
import { Decoder, type DecoderExit, type DecoderInput } from '../decode/decoder.ts';
import type { CanvasSpec } from '../decode/filter.ts';
import type { FfmpegInfo } from '../ffmpeg.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { StreamSession } from './session.ts';

/**
 * The view search's canvas: once a second, at the source's own size up to 4K (a picture at its
 * recorded size is cut to the exact pixel; 2 MB a second at 1080p, in grey).
 */
export const DEFAULT_CANVAS: CanvasSpec = { fps: 1, maxWidth: 3840 };

export interface PublishSettings {
  ffmpeg: FfmpegInfo;
  /** The grey canvas the view search reads (when the session has a finder). */
  canvas?: CanvasSpec;
  restartMinMs: number;
  restartMaxMs: number;
  firstFrameTimeoutMs: number;
}

/** What a fatal input problem looks like to the registry (it ends the session). */
export interface PublishFailure {
  reason: 'no-video' | 'undecodable' | 'no-frames';
  message: string;
}

/**
 * One publisher's connection to a session: runs the decoder for as long as the publisher is
 * connected and restarts it with backoff when it dies. Does not own the session's state; it
 * reports failures and the end to the registry.
 */
export class Publish {
  active = true;
  private decoder: Decoder | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private firstFrameTimer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private runStartedAt = 0;
  private readonly publishedAt = performance.now();
  private sawFrame = false;

  constructor(
    private readonly session: StreamSession,
    private readonly input: () => DecoderInput,
    private readonly settings: PublishSettings,
    private readonly deps: { log: Logger; metrics: Metrics; onStatus: (status: 'error', text: string) => void; onFailure: (f: PublishFailure) => void },
  ) {}

  start(): void {
    this.runDecoder();
    this.firstFrameTimer = setTimeout(() => {
      if (this.active && !this.sawFrame) {
        this.fail({ reason: 'no-frames', message: `no video frames decoded within ${Math.round(this.settings.firstFrameTimeoutMs / 1000)} s (is the encoder sending video? kibitz needs H.264 video)` });
      }
    }, this.settings.firstFrameTimeoutMs);
  }

  private runDecoder(): void {
    const s = this.session;
    s.beginDecoderRun();
    this.runStartedAt = performance.now();
    const input = this.input();
    const search = s.finder ? { canvas: this.settings.canvas ?? DEFAULT_CANVAS, fit: s.fit } : undefined;
    const decoder = new Decoder(
      { ffmpeg: this.settings.ffmpeg, input, fps: s.fps, width: s.width, height: s.height, view: s.view, scaler: s.scaler, ...(search ? { search } : {}) },
      {
        onCanvas: (picture) => this.onCanvas(decoder, picture),
        onFrame: (data, _i, relMs) => {
          const now = performance.now();
          if (!this.sawFrame) {
            this.sawFrame = true;
            this.deps.metrics.firstFrameSeconds.observe((now - this.publishedAt) / 1000);
            this.deps.log.debug({ stream: s.name, ms: Math.round(now - this.publishedAt) }, 'first frame');
          }
          s.pushFrame(data, relMs, now);
          this.deps.metrics.framesSampled.inc({ stream: s.name });
        },
        onExit: (exit) => this.onDecoderExit(decoder, exit),
      },
    );
    this.decoder = decoder;
    decoder.start();
  }

  /**
   * The view search's turn: the finder looks at the canvas; when the picture is elsewhere, the
   * decoder's crop moves there (no restart) and the session records the new view. The search
   * runs in slices between other work; a stream's canvases wait for its running search.
   */
  private onCanvas(decoder: Decoder, picture: GreyPicture): void {
    const s = this.session;
    const finder = s.finder;
    if (!finder || !this.active) return;
    const tMs = Math.round(s.streamTimeMs);
    const before = finder.state;
    finder.observe(picture, tMs, s.endSignal).then(async (place) => {
      if (finder.state !== before && finder.state === 'lost') this.deps.log.info({ stream: s.name, score: finder.status().score }, 'view search: the picture left its view; looking for it');
      if (!place || decoder !== this.decoder) return;
      await decoder.moveView(place.view, place.toSize);
      s.useView(place.view, tMs);
      const st = finder.status();
      this.deps.log.info({ stream: s.name, view: place.view, scaledTo: place.toSize, score: st.score, searchMs: st.searchMs }, 'view search: found the picture; the model now looks there');
    }).catch((err: Error) => {
      if (err.name === 'AbortError' || !this.active) return;
      this.deps.log.warn({ stream: s.name, err: err.message }, 'view search failed; the view stays where it was');
    });
  }

  private onDecoderExit(decoder: Decoder, exit: DecoderExit): void {
    if (decoder !== this.decoder) return;
    this.decoder = null;
    if (!this.active || exit.reason === 'stopped') return;
    const s = this.session;
    if (exit.reason === 'no-video') {
      this.fail({ reason: 'no-video', message: 'the publish has no video track (audio only?); kibitz needs video — check the encoder settings' });
      return;
    }
    if (exit.reason === 'undecodable') {
      s.counters.decodeErrors++;
      this.deps.metrics.decodeErrors.inc({ stream: s.name });
      this.fail({ reason: 'undecodable', message: `ffmpeg cannot decode this video (${exit.detail || 'unknown codec'}); publish H.264` });
      return;
    }
    // Crashed, killed, or ended although the publisher is still there: restart with backoff.
    s.counters.decodeErrors++;
    this.deps.metrics.decodeErrors.inc({ stream: s.name });
    if (performance.now() - this.runStartedAt > 10_000) this.attempt = 0;
    const delay = Math.min(this.settings.restartMaxMs, this.settings.restartMinMs * 2 ** this.attempt);
    this.attempt++;
    const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
    this.deps.log.warn({ stream: s.name, how, detail: exit.detail || undefined, retryInMs: delay }, 'decoder stopped while the publisher is connected; restarting');
    this.deps.onStatus('error', `decoder stopped (${how}); restarting in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.active) return;
      this.deps.metrics.decoderRestarts.inc({ stream: s.name });
      this.runDecoder();
    }, delay);
  }

  private fail(f: PublishFailure): void {
    if (!this.active) return;
    this.deps.onFailure(f);
  }

  /** The decoder's pid (tests kill it to check restarts). */
  get decoderPid(): number | undefined {
    return this.decoder?.pid;
  }

  /** Stop decoding for good (publisher gone, session ended, shutdown). */
  async stop(): Promise<void> {
    this.active = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.firstFrameTimer) clearTimeout(this.firstFrameTimer);
    this.restartTimer = this.firstFrameTimer = null;
    const d = this.decoder;
    this.decoder = null;
    await d?.stop();
  }
}
