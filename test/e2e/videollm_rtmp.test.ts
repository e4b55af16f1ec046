import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KibitzEvent } from '../../src/events.ts';
import { embeddedModelHost } from '../../src/model_host/embedded.ts';
import type { ModelEngine } from '../../src/model/engine.ts';
import { publishFile } from '../helpers/ffmpeg.ts';
import { startTestApp, testKey, type TestApp } from '../helpers/app.ts';
import { buildTinyVideoLlm } from '../helpers/tiny_videollm.ts';

/**
 * A VideoLLM-online-class package end to end: a tiny random checkpoint in the public layout,
 * imported with `kibitz import videollm-online`, served by the same engine over real RTMP and
 * ffmpeg (its own 96x96 bicubic letterbox). Its words are random: the path is what is tested —
 * it speaks lines, answers a free-form question and summarises, through the same guards, HTTP
 * API and event bus as every package.
 */
describe('an imported general model over RTMP', () => {
  let t: TestApp;
  let engine: ModelEngine;
  const events: KibitzEvent[] = [];

  beforeAll(async () => {
    const { pkg } = buildTinyVideoLlm({ seed: 3 });
    const modelHost = embeddedModelHost({ maxResponseTokens: 8 });
    t = await startTestApp({ streams: [{ name: 'live', key: testKey('live') }], config: { model: { package: pkg } }, app: { modelHost } });
    // A random model rarely chooses eos: a short cap (below the guards' length limit) ends its lines.
    engine = modelHost.engine!;
    t.app.bus.subscribe((ev) => void events.push(ev));
  }, 600_000);
  afterAll(() => t?.close());

  it('speaks, answers a free-form question and summarises', async () => {
    expect(t.app.config.decode).toMatchObject({ width: 96, height: 96, scaler: 'bicubic' });
    const key = t.app.config.streams[0]!.key;
    const pub = publishFile(t.url(key), 'models/samples/broadcast1.mp4', { extra: ['-t', '20'] });
    const deadline = Date.now() + 60_000;
    while ((t.app.sessions.get('live')?.streamTimeMs ?? -1) < 6_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));

    const ask = await t.app.http.inject({ method: 'POST', url: '/api/streams/live/ask', payload: { question: 'What is the person in the red jacket doing, and why?', user: 'viewer' } });
    expect(ask.statusCode, ask.body).toBe(200);
    const { answer } = ask.json() as { answer: string };
    expect(answer.length).toBeGreaterThan(0);

    const sum = await t.app.http.inject('/api/streams/live/summary?minutes=1');
    expect(sum.statusCode, sum.body).toBe(200);
    expect((sum.json() as { summary: string }).summary.length).toBeGreaterThan(0);
    const frames = engine.stats('live')?.framesProcessed ?? 0;
    await pub.stop();

    const mine = events.filter((e) => e.stream === 'live');
    const lines = mine.filter((e) => e.kind === 'commentary');
    console.log(`general model over RTMP: ${frames} frames, ${lines.length} lines (e.g. ${JSON.stringify(lines[0]?.text)}), answer ${JSON.stringify(answer)}`);
    expect(frames).toBeGreaterThanOrEqual(8);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(mine.find((e) => e.kind === 'answer')?.question).toBe('What is the person in the red jacket doing, and why?');
  }, 180_000);
});
