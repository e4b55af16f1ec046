import type { AskRequest } from '../brain.ts';
import type { Frame } from '../frames.ts';
import { DROP_REASONS, type DropReason, type StreamLineGuard } from './line_guard.ts';
import type { RecallRule } from './recall.ts';
import type { StreamContext } from './stream_context.ts';
import { SaidLog } from './summary.ts';
import type { TokenDrop } from './temporal_drop.ts';
import type { Recognition, WorldWatch } from './world_watch.ts';

/** A question or summary waiting for its stream's turn (the scheduler runs it between frames). */
export interface Job {
  id: string;
  kind: 'ask' | 'summary';
  prompt: number[];
  req?: AskRequest;
  /** A memory question the package answers from what was said (recall.ts); the model answers when that finds nothing. */
  recall?: RecallRule;
  resolve(text: string, streamTimeMs: number): void;
  reject(err: Error): void;
}

/** Per-stream counters the engine owns; read by /metrics and /api/streams. */
export interface EngineStreamStats {
  framesProcessed: number;
  framesSkipped: number;
  framesRejected: number;
  lines: number;
  answers: number;
  lastStepMs: number;
  /** Frame decoded -> decision made, last value, ms. */
  lastDecisionLatencyMs: number;
  /** The model's P(silent) after the last frame. */
  lastPSilent: number;
  /** Frames outside the package's world (counted in framesProcessed too; not fed to the decoder). */
  framesOutOfWorld: number;
  /** Whether the stream shows the package's world; always 'recognised' for a package without an in-world score. */
  content: Recognition;
  /** The last frame's in-world score (1 for a package without one). */
  inWorldScore: number;
  /** Generated lines that were not said, by the guard rule that stopped them. */
  linesDropped: Record<DropReason, number>;
  /** Vision tokens of decided frames that went to the decoder, and that the temporal drop kept out (always 0 without a `temporal` block). */
  tokensFed: number;
  tokensSkipped: number;
}

/**
 * Everything the engine keeps for one live stream, in one place: its model context (KV cache),
 * the frame waiting for it, its queued questions, what it said, its world watch, line guard,
 * temporal drop and counters. Only the engine's one work loop touches it, so it is never
 * changed concurrently. Made when the stream opens, dropped when it ends.
 */
export class StreamSlot {
  /** The newest frame not yet taken by the scheduler (an older one waiting is replaced and counted as skipped). */
  pending: Frame | null = null;
  jobs: Job[] = [];
  readonly said = new SaidLog();
  /** Stream time of the last frame taken, ms: where questions and summaries are placed. */
  lastStreamTimeMs = 0;
  /** Stream times of the frames in the KV cache, oldest first: a summary's context starts at [0]. */
  contextFrameTimesMs: number[] = [];
  readonly stats: EngineStreamStats = {
    framesProcessed: 0, framesSkipped: 0, framesRejected: 0, lines: 0, answers: 0, lastStepMs: 0, lastDecisionLatencyMs: 0, lastPSilent: 1,
    framesOutOfWorld: 0, content: 'recognised', inWorldScore: 1, linesDropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
    tokensFed: 0, tokensSkipped: 0,
  };
  /** A wrong-sized or wrong-view frame was logged already (once per stream). */
  warnedSize = false;
  /** Wall time of the last "line dropped" log line (at most one a minute per stream). */
  lastDropLogMs = -Infinity;
  /** Set when the stream ends: work still in flight for it is then thrown away. */
  ended = false;

  constructor(
    readonly name: string,
    /** The stream's decoder context; replaced when the cache starts over (the world was left). */
    public ctx: StreamContext,
    /** Null when the package has no in-world score. */
    readonly watch: WorldWatch | null,
    readonly guard: StreamLineGuard,
    /** The temporal token drop's state for this stream's cache; null when the package has no `temporal`. */
    readonly drop: TokenDrop | null,
  ) {}

  /** The context starts over (a fresh KV cache, nothing remembered of the frames before). */
  restartContext(ctx: StreamContext): void {
    this.ctx.dispose();
    this.ctx = ctx;
    this.drop?.reset(); // a fresh cache has none of the cells the rule remembers
    this.contextFrameTimesMs = [];
  }

  /** Keeps the cache's frame times as long as the cache keeps frames. */
  rememberFrame(streamTimeMs: number): void {
    this.contextFrameTimesMs.push(streamTimeMs);
    const kept = this.ctx.cache.framesKept;
    if (this.contextFrameTimesMs.length > kept) this.contextFrameTimesMs.splice(0, this.contextFrameTimesMs.length - kept);
  }
}
