import type { Logger } from 'pino';
import type { EventBus } from '../bus.ts';
import type { Frame } from '../frames.ts';
import type { ObservedLine } from './engine_options.ts';
import { guardRulesFor, StreamLineGuard, type DropReason, type LineGuardRules, type LineKind } from './line_guard.ts';
import type { Model } from './model.ts';
import type { Recall } from './recall.ts';
import type { Generated } from './stream_context.ts';
import type { Job, StreamSlot } from './stream_slot.ts';
import { composeSummary, type SaidLog } from './summary.ts';

/**
 * What happens to a line the model generated, in one place for every package: the guards decide
 * whether it is said (line_guard.ts), the observer sees it, a refusal is counted; a memory
 * question is answered from what was said (recall.ts); a summary is composed from the model's
 * recap and the lines said (summary.ts). Commentary is published here; answers are published
 * by the engine, which knows the asker.
 */
export class Lines {
  private readonly guardRules: LineGuardRules;
  /** The package's memory-question rules; null when it has none. */
  readonly recall: Recall | null;
  private readonly latencies: number[] = [];

  constructor(
    private readonly model: Model,
    private readonly bus: EventBus,
    private readonly log: Logger,
    guards: Partial<Pick<LineGuardRules, 'repeatWindowMs' | 'minMeanLogprob'>>,
    private readonly observe?: (line: ObservedLine) => void,
  ) {
    this.guardRules = guardRulesFor(model.manifest, guards);
    this.recall = model.pkg.recall;
  }

  /** A stream's own guard (it remembers what the stream said, for repetition). */
  newGuard(): StreamLineGuard {
    return new StreamLineGuard(this.guardRules, (id) => this.model.digitMask[id] === 1);
  }

  /** Recent frame->commentary-published latencies (ms): decision plus generating the line. */
  get commentaryLatencies(): readonly number[] {
    return this.latencies;
  }

  /** A generated commentary line: through the guards, then out. */
  say(slot: StreamSlot, frame: Frame, gen: Generated): void {
    const text = this.model.codec.decode(gen.ids);
    if (text.length === 0 || !this.vet(slot, 'commentary', gen, text, frame.streamTimeMs)) return;
    slot.said.add({ streamTimeMs: frame.streamTimeMs, text });
    slot.stats.lines++;
    this.bus.publish({ stream: slot.name, kind: 'commentary', text, streamTimeMs: frame.streamTimeMs });
    this.latencies.push(performance.now() - frame.decodedAt);
    if (this.latencies.length > 1000) this.latencies.shift();
  }

  /**
   * A question or summary in its turn, between frames, so that it sees every line said before
   * its moment: recalled from what was said when the package can, else generated and guarded
   * ('' when the guards stop it).
   */
  async answer(slot: StreamSlot, job: Job): Promise<void> {
    try {
      const recalled = job.recall ? this.recall!.answer(job.recall, slot.said, slot.lastStreamTimeMs) : null;
      if (recalled !== null) return job.resolve(recalled, slot.lastStreamTimeMs);
      const kind = job.kind === 'ask' ? 'answer' : 'summary';
      const gen = await slot.ctx.generate(job.prompt, this.model.prompts.afterLine(kind));
      const text = this.model.codec.decode(gen.ids);
      const ok = this.vet(slot, kind, gen, text, slot.lastStreamTimeMs);
      job.resolve(ok ? text : '', slot.lastStreamTimeMs);
    } catch (err) {
      job.reject(err as Error);
    }
  }

  /**
   * The summary of a window: lines said before the cache's first frame, then the model's recap
   * of what the cache holds (`recent`; null for a stream that ended), with the lines said since.
   */
  summary(said: SaidLog, fromMs: number, toMs: number, contextStartMs: number, recent: string | null): string {
    return composeSummary({
      fromMs, toMs, contextStartMs,
      older: said.between(fromMs, contextStartMs), recent, recentLines: recent === null ? [] : said.between(Math.max(fromMs, contextStartMs), toMs + 1),
    });
  }

  /** Counts a line the guards stopped; logs at most one a minute per stream. */
  dropped(slot: StreamSlot, kind: LineKind, reason: DropReason, text: string): void {
    slot.stats.linesDropped[reason]++;
    const now = Date.now();
    if (now - slot.lastDropLogMs < 60_000) return;
    slot.lastDropLogMs = now;
    this.log.info({ stream: slot.name, kind, reason, text: text.slice(0, 80), dropped: slot.stats.linesDropped },
      `a generated ${kind} was not said (${reason.replace(/_/g, ' ')}); counted in kibitz_model_lines_dropped (logged at most once a minute per stream)`);
  }

  /** Every generated line passes here: the guards decide, the observer sees it, a refusal is counted. */
  private vet(slot: StreamSlot, kind: LineKind, gen: Generated, text: string, streamTimeMs: number): boolean {
    const bad = slot.guard.check(kind, { ...gen, text }, streamTimeMs);
    this.observe?.({ stream: slot.name, kind, text, meanLogprob: gen.meanLogprob, tokens: gen.ids.length, streamTimeMs, dropped: bad });
    if (bad) this.dropped(slot, kind, bad, text);
    return bad === null;
  }
}
