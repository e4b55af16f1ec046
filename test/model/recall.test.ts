import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/bus.ts';
import type { KibitzEvent } from '../../src/events.ts';
import type { Frame } from '../../src/frames.ts';
import { ModelEngine, type ObservedLine } from '../../src/model/engine.ts';
import { loadModelPackage } from '../../src/model/manifest.ts';
import { Model } from '../../src/model/model.ts';
import { linePhrases, Recall, type RecallRule } from '../../src/model/recall.ts';
import { SaidLog } from '../../src/model/summary.ts';
import { sampleFrames } from '../helpers/sample_frames.ts';

/** Cases shared with the evaluator's copy (models/tests/test_recall.py): both must answer each the same. */
const SHARED = JSON.parse(readFileSync('models/tests/recall_cases.json', 'utf8')) as {
  rules: RecallRule[];
  cases: { name: string; kind: string | null; now_ms: number; said: [number, string][]; answer: string | null }[];
};

describe('recall rules (memory questions from what was said)', () => {
  const recall = new Recall(SHARED.rules);

  for (const c of SHARED.cases) {
    it(`shared case: ${c.name}`, () => {
      const said = new SaidLog();
      for (const [streamTimeMs, text] of c.said) said.add({ streamTimeMs, text });
      const rule = recall.forKind(c.kind);
      expect(rule ? recall.answer(rule, said, c.now_ms) : null).toBe(c.answer);
    });
  }

  it('splits lines the documented way', () => {
    expect(linePhrases('an enemy appears and  the player is hit ')).toEqual(['an enemy appears', 'the player is hit']);
  });

  it('refuses two rules for one kind', () => {
    const gem = SHARED.rules.find((r) => r.kind === 'last_gem')!;
    expect(() => new Recall([gem, { ...gem }])).toThrow(/two recall rules for kind "last_gem"/);
  });

  it('refuses a rule whose answer uses a name its line does not define', () => {
    const gem = SHARED.rules.find((r) => r.kind === 'last_gem')!;
    expect(() => new Recall([{ ...gem, answer: '{color}' }])).toThrow(/answer uses \{color\}/);
  });
});

describe('recall in a package and in the engine', () => {
  let dir: string;
  // Rules on three of the demo package's question kinds: its classifier picks the rule, whatever the wording.
  const LAST: RecallRule = { kind: 'score', line: '{line}', answer: '{seconds}: {line}' };
  const NEVER: RecallRule = { kind: 'lives', line: 'the moon falls', answer: 'at {seconds} seconds', none: 'I have not seen the moon fall' };
  const FALLBACK: RecallRule = { kind: 'level', line: 'the sun rises', answer: 'at {seconds} seconds' };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kibitz-recall-'));
    cpSync('models/kibitz-demo', dir, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    manifest.recall = { rules: [LAST, NEVER, FALLBACK] };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the shipped demo package names its memory questions', () => {
    const kinds = loadModelPackage('models/kibitz-demo').manifest.recall?.rules.map((r) => r.kind);
    expect(kinds).toEqual(['when_hit', 'last_gem', 'what_happened']);
  });

  it('refuses a package with a broken rule, saying which', () => {
    const bad = mkdtempSync(join(tmpdir(), 'kibitz-recall-bad-'));
    try {
      cpSync(dir, bad, { recursive: true });
      const manifest = JSON.parse(readFileSync(join(bad, 'manifest.json'), 'utf8'));
      manifest.recall.rules[0].answer = '{when}';
      writeFileSync(join(bad, 'manifest.json'), JSON.stringify(manifest));
      expect(() => loadModelPackage(bad)).toThrow(/recall: recall rule "score": answer uses \{when\}/);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });

  it('refuses a rule for a kind the package does not answer', () => {
    const bad = mkdtempSync(join(tmpdir(), 'kibitz-recall-orphan-'));
    try {
      cpSync(dir, bad, { recursive: true });
      const manifest = JSON.parse(readFileSync(join(bad, 'manifest.json'), 'utf8'));
      manifest.recall.rules[0].kind = 'weather';
      writeFileSync(join(bad, 'manifest.json'), JSON.stringify(manifest));
      expect(() => loadModelPackage(bad)).toThrow(/recall rule "weather" names no question kind/);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });

  it('answers a memory question from the lines the stream said, by its kind in any wording, without the model; others through the model', async () => {
    const model = await Model.load({ packageDir: dir });
    const bus = new EventBus();
    const events: KibitzEvent[] = [];
    bus.subscribe((e) => events.push(e));
    const observed: ObservedLine[] = [];
    // threshold 1: the model speaks on every frame it thinks about
    const engine = new ModelEngine(model, bus, pino({ level: 'silent' }), { threshold: 1, observeLine: (l) => observed.push(l) });
    try {
      engine.open('r');
      const { width, height, fps } = model.manifest.frame;
      const frames = sampleFrames(width, height);
      for (let seq = 0; seq < 6; seq++) {
        const f: Frame = { stream: 'r', seq, streamTimeMs: 3000 + (seq * 1000) / fps, width, height, data: frames[40 + seq]!, decodedAt: performance.now() };
        engine.offer(f);
        const t0 = Date.now();
        while (engine.stats('r')!.framesProcessed < seq + 1 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
      }
      const said = events.filter((e) => e.kind === 'commentary');
      expect(said.length).toBeGreaterThan(0);
      const last = said.at(-1)!;

      const answersBefore = observed.filter((l) => l.kind === 'answer').length;
      const recalled = await engine.ask({ stream: 'r', question: 'What is the score?' });
      expect(recalled.answer).toBe(`${Math.floor(last.streamTimeMs! / 1000)}: ${linePhrases(last.text!).at(-1)}`);
      expect((await engine.ask({ stream: 'r', question: 'yo whats the score rn' })).answer).toBe(recalled.answer); // same kind, other words
      expect((await engine.ask({ stream: 'r', question: 'how many lives are left?' })).answer).toBe('I have not seen the moon fall');
      expect(observed.filter((l) => l.kind === 'answer').length).toBe(answersBefore); // the model generated none of them
      expect(events.filter((e) => e.kind === 'answer').map((e) => e.text)).toEqual([recalled.answer, recalled.answer, 'I have not seen the moon fall']);

      // no matching phrase and no `none`: the model answers, as it does any other question
      const fallback = await engine.ask({ stream: 'r', question: 'what level is it?' });
      expect(observed.filter((l) => l.kind === 'answer').length).toBe(answersBefore + 1);
      expect(fallback.answer.length).toBeGreaterThan(0);
    } finally {
      await engine.close();
      await model.close();
    }
  });
});
