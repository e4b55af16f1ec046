import { describe, expect, it } from 'vitest';
import { checkLine, DEFAULT_LINE_GUARD_RULES, guardRulesFor, longestRun, StreamLineGuard, type GeneratedLine, type LineGuardRules } from '../../src/model/line_guard.ts';
import type { Manifest } from '../../src/model/manifest.ts';

const rules: LineGuardRules = { ...DEFAULT_LINE_GUARD_RULES, minMeanLogprob: -1.5, repeatWindowMs: 10_000 };
const line = (text: string, over: Partial<GeneratedLine> = {}): GeneratedLine => ({
  text, ids: text.split(' ').map((_, i) => 100 + i), meanLogprob: -0.2, finished: true, ...over,
});

describe('line guards (one rule set for every package)', () => {
  it('refuses a word three times in a row, in any case, and allows two', () => {
    expect(checkLine('commentary', line('an enemy appears blue blue blue nothing'), rules)).toBe('repetition');
    expect(checkLine('answer', line('nothing Nothing NOTHING'), rules)).toBe('repetition');
    expect(checkLine('commentary', line('the player picks up a blue gem and a blue gem'), rules)).toBeNull();
    expect(longestRun(['a', 'b', 'b', 'c'])).toBe(2);
  });

  it('refuses a token three times in a row, but not the digit pieces of a number', () => {
    const ids = [10, 11, 11, 11];
    expect(checkLine('commentary', line('x y', { ids }), rules)).toBe('repetition');
    const digits = new Set([11]);
    expect(checkLine('answer', line('2111', { ids }), rules, (id) => digits.has(id))).toBeNull();
  });

  it('refuses a line over the kind\'s length, or one the cap cut off', () => {
    expect(checkLine('commentary', line('a', { ids: Array.from({ length: 33 }, (_, i) => i) }), rules)).toBe('too_long');
    expect(checkLine('summary', line('a', { ids: Array.from({ length: 33 }, (_, i) => i) }), rules)).toBeNull();
    expect(checkLine('commentary', line('x', { finished: false, ids: Array.from({ length: 32 }, (_, i) => i) }), rules)).toBe('too_long');
    expect(checkLine('commentary', line('game over', { finished: false }), rules)).toBeNull(); // an operator's low cap
  });

  it('refuses a line whose mean token log-probability is under the floor', () => {
    expect(checkLine('commentary', line('level 3 begins', { meanLogprob: -2.1 }), rules)).toBe('low_confidence');
    expect(checkLine('commentary', line('level 3 begins', { meanLogprob: -1.4 }), rules)).toBeNull();
  });

  it('refuses the same commentary within the window unless the model went silent in between', () => {
    const g = new StreamLineGuard(rules);
    expect(g.check('commentary', line('an enemy appears'), 1000)).toBeNull();
    expect(g.check('commentary', line('an enemy appears'), 1500)).toBe('duplicate'); // the next frame, no new decision
    g.silentFrame();
    expect(g.check('commentary', line('an enemy appears'), 2500)).toBeNull(); // a new event
    expect(g.check('commentary', line('An enemy appears'), 3000)).toBe('duplicate');
    expect(g.check('commentary', line('an enemy appears'), 13_100)).toBeNull(); // outside the window
    expect(g.check('answer', line('at 12 seconds'), 13_200)).toBeNull();
    expect(g.check('answer', line('at 12 seconds'), 13_300)).toBeNull(); // answers repeat when asked twice
  });

  it('takes the package\'s limits from its manifest and config overrides on top', () => {
    const m = { guards: { maxTokens: { commentary: 20 }, minMeanLogprob: -3 } } as unknown as Manifest;
    const r = guardRulesFor(m, { repeatWindowMs: 5000 });
    expect(r.maxTokens).toEqual({ commentary: 20, answer: 24, summary: 48 });
    expect(r.minMeanLogprob).toBe(-3);
    expect(r.repeatWindowMs).toBe(5000);
    expect(guardRulesFor({} as Manifest).minMeanLogprob).toBe(-Infinity);
  });
});
