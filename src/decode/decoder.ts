import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { FfmpegInfo } from '../ffmpeg.ts';
import type { FfmpegCaps } from '../ffmpeg_probe.ts';
import { FrameAssembler } from './assembler.ts';
import { CanvasAssembler, type GreyPicture } from './canvas_assembler.ts';
import { frameFilter, searchFilterGraph, viewCommands, type CanvasSpec, type FrameScaler, type FrameView } from './filter.ts';

/**
 * What the decoder reads. RTMP: FLV from the publish's tap on stdin (ingest/rtmp_tap.ts). A stdin-fed
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
  /**
   * Let the view move while the decoder runs and send grey pictures of the whole canvas (the
   * view search, src/view/). Absent: the fixed chain of `frameFilter`.
   */
  search?: { canvas: CanvasSpec; fit: 'stretch' | 'letterbox' };
}

/** The whole frame as a view. */
export const WHOLE_FRAME: FrameView = [0, 0, 1, 1];

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
  /** Search mode: the whole canvas in grey (`index` counts canvases, `canvas.fps` a second). */
  onCanvas?(picture: GreyPicture, index: number): void;
}

/** What a stdin-fed input names as its input in `args`; in search mode stdin carries filter commands and the input moves to a private socket. */
export const STDIN_INPUT = 'pipe:0';

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
  /** Search mode: ffmpeg's stdin, where filter commands go. */
  private commands: Writable | null = null;
  private pendingReplies = 0;
  private settling = 0;
  private readonly waiters: { replies: number; resolve: () => void; reject: (err: Error) => void; failed: boolean }[] = [];
  private cleanup: (() => void) | null = null;

  constructor(private readonly opts: DecoderOptions, private readonly events: DecoderEvents) {}

  /** The command line for this build (`caps`); every build gets the same frame timing. */
  static args(opts: Omit<DecoderOptions, 'ffmpeg'>, caps: FfmpegCaps): string[] {
    // -fps_mode came with ffmpeg 5.1 and deprecates -vsync; older builds (the bundled one)
    // only have -vsync, with the same meaning.
    const sync = caps.options.has('fps_mode') ? '-fps_mode' : '-vsync';
    const head = [
      '-hide_banner', '-nostats', '-loglevel', 'error',
      // One decode thread per stream: many streams share few cores, and frame threads add latency.
      '-threads', '1',
      // The RTMP tap (node-media-server's FLV) announces audio+video in its header whatever the publish
      // holds; short probing keeps the first frame fast and an audio-only publish fails fast.
      '-probesize', '100000', '-analyzeduration', '300000',
      ...opts.input.args,
    ];
    const frames = [sync, 'passthrough', '-flush_packets', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
    if (!opts.search) {
      return [...head, '-map', '0:v:0', '-an', '-sn', '-dn', '-filter_threads', '1',
        '-vf', frameFilter(opts.fps, opts.width, opts.height, opts.view, opts.scaler), ...frames];
    }
    const graph = searchFilterGraph(opts.fps, opts.width, opts.height, opts.view ?? WHOLE_FRAME, opts.search.fit, opts.search.canvas, opts.scaler);
    return [...head, '-filter_threads', '1', '-filter_complex', graph,
      '-map', '[frames]', ...frames,
      '-map', '[canvas]', sync, 'passthrough', '-f', 'image2pipe', '-c:v', 'pgm', 'pipe:3'];
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (!this.opts.search || !this.opts.input.stdin) {
      this.spawn(this.opts.input.args);
      return;
    }
    // Search mode with a stdin-fed input: stdin carries filter commands, so the input is served
    // on a private Unix socket instead (ffmpeg's `unix:` protocol connects to it).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kibitz-decoder-'));
    const socket = path.join(dir, 'input.sock');
    const stdin = this.opts.input.stdin;
    const server = createServer((conn) => {
      server.close(); // one reader: ffmpeg
      conn.on('error', () => {}); // EPIPE when ffmpeg exits first; the exit handler reports it
      stdin.pipe(conn);
    });
    this.cleanup = () => {
      server.close();
      stdin.unpipe();
      rmSync(dir, { recursive: true, force: true });
    };
    server.on('error', (err) => this.fail(err));
    server.listen(socket, () => {
      if (this.stopping) return this.finish(null, null);
      this.spawn(this.opts.input.args.map((a) => (a === STDIN_INPUT ? `unix:${socket}` : a)));
    });
  }

  private spawn(inputArgs: string[]): void {
    const { opts } = this;
    const search = opts.search !== undefined;
    const pipeStdin = !search && opts.input.stdin !== undefined;
    const assembler = new FrameAssembler(opts.width * opts.height * 3);
    const stdio: ('pipe' | 'ignore')[] = [search || pipeStdin ? 'pipe' : 'ignore', 'pipe', 'pipe', ...(search ? ['pipe' as const] : [])];
    const child = spawn(opts.ffmpeg.path, Decoder.args({ ...opts, input: { ...opts.input, args: inputArgs } }, opts.ffmpeg.caps), { stdio });
    this.child = child;
    if (pipeStdin && child.stdin) {
      child.stdin.on('error', () => {}); // EPIPE when ffmpeg exits first; the exit handler reports it
      opts.input.stdin!.pipe(child.stdin);
    }
    if (search && child.stdin) {
      child.stdin.on('error', () => {});
      this.commands = child.stdin;
    }
    child.stdout!.on('data', (chunk: Buffer) => {
      for (const f of assembler.push(chunk)) {
        const i = this.frames++;
        if (this.settling > 0) {
          // Cut while the view was moving (its commands take effect one input frame apart).
          this.framesSettling++;
          if (this.pendingReplies === 0) this.settling--;
          continue;
        }
        this.events.onFrame(f, i, (i * 1000) / opts.fps);
      }
    });
    if (search) {
      const canvas = new CanvasAssembler();
      let n = 0;
      const out = child.stdio[3] as Readable;
      out.on('data', (chunk: Buffer) => {
        try {
          for (const p of canvas.push(chunk)) this.events.onCanvas?.(p, n++);
        } catch (err) {
          this.fail(err as Error);
        }
      });
    }
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      for (const line of s.split('\n')) {
        const text = line.trim();
        if (!text || text.startsWith('Enter command:')) continue;
        const reply = /^Command reply for stream \d+: ret:(-?\d+)/.exec(text);
        if (reply) {
          this.onReply(Number(reply[1]));
          continue;
        }
        this.stderrTail.push(scrub(text));
      }
      if (this.stderrTail.length > 20) this.stderrTail.splice(0, this.stderrTail.length - 20);
    });
    child.on('error', (err) => this.fail(err));
    // 'close' (not 'exit'): stdout is drained by then, so no frame is reported after onExit.
    child.on('close', (code, signal) => this.finish(code, signal));
  }

  /**
   * Search mode: moves the model's view to `view` while ffmpeg runs (`toSize`: the picture there
   * is scaled, and is brought back to this size in pixels before the cut: filter.ts viewCommands).
   * Frames cut while it moves are dropped (counted in `framesSettling`). Resolves when ffmpeg has
   * applied every command; rejects when it refused one or the decoder ended.
   */
  moveView(view: FrameView, toSize?: readonly [number, number]): Promise<void> {
    if (!this.opts.search) return Promise.reject(new Error('the decoder runs a fixed view (no search mode)'));
    if (!this.commands || this.exited) return Promise.reject(new Error('the decoder is not running'));
    const lines = viewCommands(view, toSize);
    this.settling = 1; // one frame after the last reply may still show the old place
    return new Promise((resolve, reject) => {
      this.pendingReplies += lines.length;
      this.waiters.push({ replies: lines.length, resolve, reject, failed: false });
      // ffmpeg's keyboard interface: "c" then "<target> <time> <command> <arg>" and a newline.
      this.commands!.write(lines.map((l) => `c${l}\n`).join(''));
    });
  }

  /** Frames dropped because they were cut while the view moved. */
  framesSettling = 0;

  private onReply(ret: number): void {
    if (this.pendingReplies > 0) this.pendingReplies--;
    const w = this.waiters[0];
    if (!w) return;
    if (ret < 0) w.failed = true;
    if (--w.replies > 0) return;
    this.waiters.shift();
    if (w.failed) w.reject(new Error(`ffmpeg refused a filter command (ret ${ret})`));
    else w.resolve();
  }

  private fail(err: Error): void {
    this.stderrTail.push(err.message);
    if (this.child && !this.exited) this.child.kill('SIGKILL');
    else this.finish(null, null);
  }

  private finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = true;
    this.opts.input.stdin?.unpipe();
    this.cleanup?.();
    for (const w of this.waiters.splice(0)) w.reject(new Error('the decoder ended'));
    this.events.onExit({ reason: classify(this.stopping, code, signal, this.stderrTail, this.frames), code, signal, frames: this.frames, detail: this.stderrTail.slice(-3).join(' | ') });
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
