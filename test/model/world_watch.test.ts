import { describe, expect, it } from 'vitest';
import { WorldWatch } from '../../src/model/world_watch.ts';

describe('WorldWatch (is the stream in the package\'s world?)', () => {
  const opts = { threshold: 0.5, enterAfterMs: 3000, exitAfterMs: 2000 };

  it('leaves the world after enterAfterMs of low scores and comes back after exitAfterMs of high ones', () => {
    const w = new WorldWatch(opts);
    const changes: (string | null)[] = [];
    let t = 0;
    for (let i = 0; i < 4; i++, t += 500) changes.push(w.observe(t, 0.9));
    for (let i = 0; i < 8; i++, t += 500) changes.push(w.observe(t, 0.1));
    expect(w.state).toBe('unrecognised');
    expect(changes.filter((c) => c !== null)).toEqual(['unrecognised']);
    expect(changes.indexOf('unrecognised')).toBe(4 + 6); // 3 s after the first low frame
    for (let i = 0; i < 5; i++, t += 500) changes.push(w.observe(t, 0.8));
    expect(w.state).toBe('recognised');
    expect(changes.filter((c) => c !== null)).toEqual(['unrecognised', 'recognised']);
  });

  it('does not flip on a flickering score, but distrusts each low frame at once', () => {
    const w = new WorldWatch(opts);
    for (let t = 0; t < 20_000; t += 500) {
      const score = (t / 500) % 3 === 0 ? 0.2 : 0.9;
      expect(w.observe(t, score)).toBeNull();
      expect(w.frameInWorld).toBe(score >= 0.5);
      expect(w.trusted).toBe(score >= 0.5);
    }
    expect(w.state).toBe('recognised');
  });

  it('treats a NaN score as out of the world', () => {
    const w = new WorldWatch(opts);
    w.observe(0, Number.NaN);
    expect(w.frameInWorld).toBe(false);
  });
});
