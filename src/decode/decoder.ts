import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { FfmpegInfo } from '../ffmpeg.ts';
import type { FfmpegCaps } from '../ffmpeg_probe.ts';
import { FrameAssembler } from './assembler.ts';
import { frameFilter, type FrameScaler, type FrameView } from './filter.ts';

/**
 * What the decoder reads. RTMP: `['-i', 'rtmp://127.0.0.1:PORT/live/KEY']`. A stdin-fed
 * ingest (WHIP: H.264 Annex-B) passes e.g. `['-f', 'h264', '-i', 'pipe:0']` and the stream.
 * The args may contain a secret (the stream key): never log them.
 */
export interface DecoderInput {
  args: string[];
  stdin?: Readable;
  /** For logs, e.g. "rtmp" or "whip"; never contains the key. */
  label: string;
}

export interface DecoderOptions {
  ffmpeg: Pick<FfmpegInfo, 'path' | 'caps'>;
  input: DecoderInput;
  fps: number;
  width: number;
  height: number;
  /** The part of the screen the model looks at (manifest frame.view); absent: the whole frame, letterboxed. */
  view?: FrameView;
  /** The scaler the model's frames were made with (manifest frame.scaler); absent: bilinear. */
  scaler?: FrameScaler;
}

/** Why a decoder run ended. `no-video` and `undecodable` will not get better by restarting. */
export type DecoderExitReason = 'ended' | 'stopped' | 'crashed' | 'no-video' | 'undecodable';

export interface DecoderExit {
  reason: DecoderExitReason;
  code: number | null;
  signal: NodeJS.Signals | null;
  frames: number;
  /** ffmpeg's last error lines (the key is scrubbed), for the log. */
  detail: string;
}

export interface DecoderEvents {
  /** `index` counts this run's frames from 0; `relMs` is index / fps (see below). */
  onFrame(data: Buffer, index: number, relMs: number): void;
  onExit(exit: DecoderExit): void;
}

/**
 * One ffmpeg child: compressed video in, letterboxed RGB24 frames at `fps` out.
 *
 * Timestamps: the `fps` filter places its output on a fixed grid anchored at the first input
 * timestamp (it duplicates or drops input frames to follow the *media* timestamps, not the
 * arrival time). So output frame n is media time n / fps after this run's first frame — no
 * stderr parsing (showinfo) needed, and it stays right when ffmpeg stalls, bursts or B-frames
 * reorder. Passthrough (`-fps_mode`/`-vsync`) keeps the muxer from adding or dropping frames again.
 */
export class Decoder {
  private child: ChildProcess | null = null;
  private stopping = false;
  private frames = 0;
  private stderrTail: string[] = [];
  private exited = false;

  constructor(private readonly opts: DecoderOptions, private readonly events: DecoderEvents) {}

  /** The command line for this build (`caps`); every build gets the same frame timing. */
  static args(opts: Omit<DecoderOptions, 'ffmpeg'>, caps: FfmpegCaps): string[] {
    return [
      '-hide_banner', '-nostats', '-loglevel', 'error',
      // One decode thread per stream: many streams share few cores, and frame threads add latency.
      '-threads', '1',
      // RTMP via node-media-server announces audio+video in its FLV header whatever the publish
      // holds; short probing keeps the first frame fast and an audio-only publish fails fast.
      '-probesize', '100000', '-analyzeduration', '300000',
      ...opts.input.args,
      '-map', '0:v:0', '-an', '-sn', '-dn',
      '-filter_threads', '1',
      '-vf', frameFilter(opts.fps, opts.width, opts.height, opts.view, opts.scaler),
      // -fps_mode came with ffmpeg 5.1 and deprecates -vsync; older builds (the bundled one)
      // only have -vsync, with the same meaning.
      caps.options.has('fps_mode') ? '-fps_mode' : '-vsync', 'passthrough',
      '-flush_packets', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
    ];
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    const { opts } = this;
    const assembler = new FrameAssembler(opts.width * opts.height * 3);
    const child = spawn(opts.ffmpeg.path, Decoder.args(opts, opts.ffmpeg.caps), { stdio: [opts.input.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    this.child = child;
    if (opts.input.stdin && child.stdin) {
      child.stdin.on('error', () => {}); // EPIPE when ffmpeg exits first; the exit handler reports it
      opts.input.stdin.pipe(child.stdin);
    }
    child.stdout!.on('data', (chunk: Buffer) => {
      for (const f of assembler.push(chunk)) {
        const i = this.frames++;
        this.events.onFrame(f, i, (i * 1000) / opts.fps);
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      for (const line of s.split('\n')) if (line.trim()) this.stderrTail.push(scrub(line.trim()));
      if (this.stderrTail.length > 20) this.stderrTail.splice(0, this.stderrTail.length - 20);
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (this.exited) return;
      this.exited = true;
      opts.input.stdin?.unpipe();
      this.events.onExit({ reason: classify(this.stopping, code, signal, this.stderrTail, this.frames), code, signal, frames: this.frames, detail: this.stderrTail.slice(-3).join(' | ') });
    };
    child.on('error', (err) => {
      this.stderrTail.push(err.message);
      finish(null, null);
    });
    // 'close' (not 'exit'): stdout is drained by then, so no frame is reported after onExit.
    child.on('close', finish);
  }

  /** Ask ffmpeg to stop; SIGKILL if it does not within `graceMs`. Resolves when it is gone. */
  stop(graceMs = 2000): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}

function classify(stopping: boolean, code: number | null, signal: NodeJS.Signals | null, tail: string[], frames: number): DecoderExitReason {
  if (stopping) return 'stopped';
  const text = tail.join('\n');
  if (/matches no streams|does not contain any stream|no video stream/i.test(text)) return 'no-video';
  if (frames === 0 && /Decoder \(codec [^)]*\) not found|Unsupported codec|Could not find codec parameters|unknown codec|Error while opening decoder/i.test(text)) return 'undecodable';
  if (code === 0 && !signal) return 'ended';
  return 'crashed';
}

/** ffmpeg repeats its input URL in errors; the last path segment is a stream key. */
function scrub(line: string): string {
  return line.replace(/(rtmps?:\/\/[^\s/]+\/[^\s/]+\/)[^\s'"]+/g, '$1***');
}
