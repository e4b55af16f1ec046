import { expect } from 'vitest';
import type { KibitzEvent } from '../../src/events.ts';
import type { Broadcast } from '../../bench/evaluate.ts';

/** Each ground-truth question's answer, which must have come within 2 s (stream time) of its moment. */
export function answeredAtTheirMoments(truth: Broadcast, events: readonly KibitzEvent[]) {
  const answers = events.filter((e) => e.kind === 'answer');
  return truth.qa.map((q) => {
    const a = answers.find((e) => e.question === q.question && Math.abs(e.streamTimeMs - q.t * 1000) <= 2000);
    expect(a, `answer to "${q.question}" at ${q.t}s`).toBeDefined();
    return { kind: q.kind, want: q.answer, got: a!.text };
  });
}
