import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EventBus } from '../../src/bus.ts';
import { ModelEngine } from '../../src/model/engine.ts';
import { loadModelPackage } from '../../src/model/manifest.ts';
import { Model } from '../../src/model/model.ts';
import { NONE, QuestionClassifier } from '../../src/questions/classifier.ts';
import { featureStrings, featurise, normaliseQuestion } from '../../src/questions/features.ts';
import { OPEN_HELP, QuestionKinds, readHelpLine } from '../../src/questions/kinds.ts';

/** Cases shared with the toolkit (models/tests/test_question_classifier.py): both languages must give each the same. */
const SHARED = JSON.parse(readFileSync('models/tests/question_features_cases.json', 'utf8')) as {
  spec: { buckets: number; chars: number[] };
  features: { text: string; normalised: string; features: string[]; indices: number[]; values: number[] }[];
  classifier: unknown;
  classifications: { text: string; probs: number[] | null; kind: string; p: number }[];
};

describe('question features and classifier (shared cases with the toolkit)', () => {
  for (const c of SHARED.features) {
    it(`features of ${JSON.stringify(c.text)}`, () => {
      expect(normaliseQuestion(c.text)).toBe(c.normalised);
      expect(featureStrings(c.text, SHARED.spec.chars)).toEqual(c.features);
      const f = featurise(c.text, SHARED.spec);
      expect(f.indices).toEqual(c.indices);
      f.values.forEach((v, i) => expect(v).toBeCloseTo(c.values[i]!, 5));
    });
  }

  it('classifies as the toolkit does', () => {
    const clf = new QuestionClassifier(SHARED.classifier);
    for (const c of SHARED.classifications) {
      const p = clf.probs(c.text);
      if (c.probs === null) expect(p, c.text).toBeNull();
      else c.probs.forEach((x, i) => expect(p![i], c.text).toBeCloseTo(x, 5));
      const got = clf.classify(c.text);
      expect(got.kind ?? NONE, c.text).toBe(c.kind);
      expect(got.p).toBeCloseTo(c.p, 5);
    }
  });

  it('refuses a file that is not a classifier, or whose weights do not fit', () => {
    expect(() => new QuestionClassifier({ format: 'x' })).toThrow(/format/);
    const spec = structuredClone(SHARED.classifier) as { hidden: number };
    spec.hidden = 5;
    expect(() => new QuestionClassifier(spec)).toThrow(/weights.w1 has 256 values, expected 320/);
  });
});

describe('the bundled packages: their kinds, their wording, what they cannot answer', () => {
  for (const [pkg, help] of [
    ['models/kibitz-demo', `I can answer the score, lives, the level, enemies on screen, gems on screen, the last gem's colour, what just happened and when the player was last hit — try asking "what's the score?"`],
    ['models/kibitz-chess', `I can answer whose move it is, what just happened and who made the last capture — try asking "whose move is it?"`],
  ] as const) {
    it(`${pkg}: every canonical question and example reaches its kind; nonsense, emoji and trivia none`, () => {
      const kinds = loadModelPackage(pkg).questions!;
      expect(kinds.help).toBe(help);
      expect(readHelpLine(pkg)).toBe(help);
      for (const k of kinds.kinds) {
        for (const q of [k.question, ...k.examples]) expect(kinds.understand(q).kind?.kind, q).toBe(k.kind);
      }
      for (const q of ['asdf qwerty zxcv', '😂', '???', 'what is the capital of france?', 'hi']) expect(kinds.understand(q).kind, q).toBeNull();
    });
  }

  it('refuses a classifier whose classes are not the manifest kinds', () => {
    const pkg = loadModelPackage('models/kibitz-demo');
    const block = { ...pkg.manifest.questions!, kinds: pkg.manifest.questions!.kinds.slice(1) };
    expect(() => new QuestionKinds(block, QuestionClassifier.fromFile('models/kibitz-demo/questions.json'))).toThrow(/retrain it for these kinds/);
  });
});

describe('packages without a questions block, and broken ones', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kibitz-noquestions-'));
    cpSync('models/kibitz-demo', dir, { recursive: true });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const edit = (f: (m: Record<string, unknown>) => void) => {
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    f(m);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  };

  it('a questions block naming a missing classifier stops the load, saying how to make one', () => {
    edit((m) => ((m.questions as { file: string }).file = 'nope.json'));
    expect(() => loadModelPackage(dir)).toThrow(/names nope\.json in its questions block but has no such file: retrain it: .*cli questions/);
  });

  it('without a questions block, a question goes to the model as asked (as a general package does) and !help says so', async () => {
    edit((m) => delete m.questions);
    const model = await Model.load({ packageDir: dir });
    const asked = vi.spyOn(model.prompts, 'question');
    const engine = new ModelEngine(model, new EventBus(), pino({ level: 'silent' }));
    try {
      engine.open('s');
      const r = await engine.ask({ stream: 's', question: 'what is the capital of france?' });
      expect(r.answer.length).toBeGreaterThan(0);
      expect(asked).toHaveBeenCalledWith('what is the capital of france?', expect.any(Number));
      expect(engine.help('s')).toBe(OPEN_HELP);
      expect(readHelpLine(dir)).toBeNull();
    } finally {
      await engine.close();
      await model.close();
    }
  });
});
