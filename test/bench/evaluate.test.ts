import { describe, expect, it } from 'vitest';
import { scoreSummary, type TruthEvent } from '../../bench/evaluate.ts';

const truth: TruthEvent[] = [
  { t: 1, kind: 'spawn', text: 'an enemy appears' },
  { t: 2, kind: 'spawn', text: 'an enemy appears' },
  { t: 3, kind: 'hit', text: 'the player is hit' },
  { t: 50, kind: 'level', text: 'a new level begins' },
  { t: 70, kind: 'over', text: 'game over' },
];

describe('summary coverage (runtime summaries against the events)', () => {
  it('counts each phrase once per "(xN)", across time ranges and joiners', () => {
    const s = '00:00-00:45: an enemy appears (x2); the player is hit. 00:45-01:15: a new level begins then the player picks up a red gem.';
    expect(scoreSummary(truth, s, 0, 75)).toEqual({ events: 5, covered: 4, coverage: 0.8, phrases: 5, precision: 0.8 });
  });

  it('a phrase said once covers one event, and only events inside the window count', () => {
    expect(scoreSummary(truth, '1:00:00-1:00:45: an enemy appears and the player is hit.', 0, 75).covered).toBe(2);
    expect(scoreSummary(truth, '00:40-01:15: a new level begins then game over.', 40, 75)).toMatchObject({ events: 2, covered: 2, coverage: 1 });
  });

  it('a line repeated beyond the events covers them all but most of its phrases name nothing', () => {
    expect(scoreSummary(truth, '00:00-01:15: an enemy appears (x10).', 0, 75)).toMatchObject({ covered: 2, phrases: 10, precision: 0.2 });
  });

  it('a summary that names nothing covers nothing', () => {
    expect(scoreSummary(truth, 'Nothing notable happened.', 0, 75).coverage).toBe(0);
  });
});
