import { formatStreamTime } from '../events.ts';

/** A line the model said, kept (bounded) so summaries reach back further than the KV cache. */
export interface SaidLine {
  streamTimeMs: number;
  text: string;
}

/** Bounded record of what was said on one stream, oldest dropped first. */
export class SaidLog {
  private readonly lines: SaidLine[] = [];
  constructor(private readonly max = 4000) {}

  add(line: SaidLine): void {
    this.lines.push(line);
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max);
  }

  /** Newest line first (for recall, src/model/recall.ts). */
  *newestFirst(): Iterable<SaidLine> {
    for (let i = this.lines.length - 1; i >= 0; i--) yield this.lines[i]!;
  }

  between(fromMs: number, toMs: number): SaidLine[] {
    return this.lines.filter((l) => l.streamTimeMs >= fromMs && l.streamTimeMs < toMs);
  }
}



/** "a (x3); b; c (x2)": repeated lines counted, in order of first appearance. */
export function condense(lines: SaidLine[], maxItems = 12): string {
  const counts = new Map<string, number>();
  for (const l of lines) counts.set(l.text, (counts.get(l.text) ?? 0) + 1);
  const items = [...counts.entries()].map(([text, n]) => (n > 1 ? `${text} (x${n})` : text));
  const shown = items.slice(0, maxItems);
  if (items.length > maxItems) shown.push(`and ${items.length - maxItems} more`);
  return shown.join('; ');
}

/**
 * Joins the part of the window older than the model's context (from what was said) with the
 * model's own summary of what it still sees.
 */
export function composeSummary(opts: { fromMs: number; toMs: number; contextStartMs: number; older: SaidLine[]; recent: string | null; recentLines: SaidLine[] }): string {
  const parts: string[] = [];
  if (opts.older.length > 0) {
    parts.push(`${formatStreamTime(opts.fromMs)}-${formatStreamTime(Math.min(opts.contextStartMs, opts.toMs))}: ${condense(opts.older)}.`);
  }
  const recentFrom = Math.max(opts.fromMs, opts.contextStartMs);
  if (opts.recent && opts.recent.length > 0) parts.push(`${formatStreamTime(recentFrom)}-${formatStreamTime(opts.toMs)}: ${opts.recent}.`);
  else if (opts.recentLines.length > 0) parts.push(`${formatStreamTime(recentFrom)}-${formatStreamTime(opts.toMs)}: ${condense(opts.recentLines)}.`);
  if (parts.length === 0) return 'Nothing notable happened.';
  return parts.join(' ');
}
