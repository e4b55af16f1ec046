import type { Logger } from 'pino';
import { BrainError } from '../brain.ts';
import { newEventId } from '../events.ts';
import type { FramePath } from './frame_path.ts';
import type { Lines } from './lines.ts';
import type { Job, StreamSlot } from './stream_slot.ts';

/**
 * The engine's one work loop: whose turn it is, what runs together, and that every stream gets
 * its turn. Each round takes the pending frames of up to maxVisionBatch streams (the starting
 * stream rotates, so beyond the batch size frames are skipped evenly instead of the first
 * streams starving) through the frame path as one batch, then each ready stream's oldest
 * question. Nothing else touches a stream's model state, so it is never changed concurrently.
 * Work is signalled (`kick`), never polled for.
 */
export class Scheduler {
  private wake: (() => void) | null = null;
  private turn = 0;
  private closed = false;
  private readonly done: Promise<void>;

  constructor(
    /** The live streams, read each round. */
    private readonly slots: () => Iterable<StreamSlot>,
    private readonly frames: FramePath,
    private readonly lines: Lines,
    private readonly log: Logger,
    private readonly opts: { maxVisionBatch: number; askTimeoutMs: number },
  ) {
    this.done = this.loop();
  }

  /** There is new work (a frame, a question, a stream ended): the loop wakes if it sleeps. */
  kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /**
   * Queues a question or summary for its stream's turn; resolves with the text and the stream
   * time it was answered at. TIMEOUT after askTimeoutMs or when `signal` aborts.
   */
  enqueue(slot: StreamSlot, job: Omit<Job, 'id' | 'resolve' | 'reject'>, signal?: AbortSignal): Promise<{ text: string; streamTimeMs: number }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new BrainError('TIMEOUT', `no answer within ${this.opts.askTimeoutMs} ms`)), this.opts.askTimeoutMs);
      const onAbort = () => done(new BrainError('TIMEOUT', 'the request was cancelled'));
      const done = (err: Error | null, text = '', ms = 0) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = slot.jobs.indexOf(entry);
        if (i >= 0) slot.jobs.splice(i, 1);
        if (err) reject(err);
        else resolve({ text, streamTimeMs: ms });
      };
      const entry: Job = { ...job, id: newEventId(), resolve: (text, ms) => done(null, text, ms), reject: (err) => done(err) };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      slot.jobs.push(entry);
      this.kick();
    });
  }

  /** Stops after the round in flight. Idempotent. */
  close(): Promise<void> {
    this.closed = true;
    this.kick();
    return this.done;
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      const ready = [...this.slots()].filter((s) => s.pending || s.jobs.length > 0);
      if (ready.length === 0) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      const withFrames = ready.filter((s) => s.pending);
      const start = withFrames.length ? this.turn++ % withFrames.length : 0;
      const batch = [...withFrames.slice(start), ...withFrames.slice(0, start)].slice(0, this.opts.maxVisionBatch);
      try {
        await this.frames.run(batch);
      } catch (err) {
        this.log.error({ err }, 'vision encoder failed; the frames of this batch are skipped');
      }
      for (const s of ready) if (!s.ended && s.jobs.length > 0) await this.lines.answer(s, s.jobs[0]!);
    }
  }
}
