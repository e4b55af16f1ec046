import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ModelEngine } from '../../src/model/engine.ts';
import { embeddedModelHost } from '../../src/model_host/embedded.ts';
import type { Model } from '../../src/model/model.ts';
import { startPlugins, type PluginHost } from '../../src/plugins/host.ts';
import { startTestApp, testKey, type TestApp } from '../helpers/app.ts';

const log = pino({ level: 'silent' });
// Limits set in the config, away from the defaults: every way in must take them from there.
const MAX_CHARS = 40;
const MAX_MINUTES = 30;
const TOO_LONG = `the question is longer than ${MAX_CHARS} characters; ask a shorter one`;
const TOO_MANY_MINUTES = `minutes must be between 1 and ${MAX_MINUTES}`;

/** A plain question of exactly n characters (cleaning leaves it as it is). */
const questionOf = (n: number) => 'is the player winning '.repeat(5).slice(0, n - 1) + '?';

/**
 * The longest question the config allows is answered, and one character more is refused with the
 * same message, whichever way it comes in: HTTP and the chats share the one question gate, and
 * what it refuses never reaches the model side (the embedded engine here; a Redis ingest node's
 * brain sits behind the same gate). The same for summary minutes.
 */
describe('question limits agree end to end', () => {
  let t: TestApp;
  let model: Model;
  let engine: ModelEngine;
  let host: PluginHost;
  let engineAsked: ReturnType<typeof vi.spyOn>;
  let engineSummarised: ReturnType<typeof vi.spyOn>;

  beforeAll(async () => {
    const modelHost = embeddedModelHost();
    t = await startTestApp({
      streams: [{ name: 'main', key: testKey() }],
      config: { model: { package: 'models/kibitz-demo' }, questions: { maxQuestionChars: MAX_CHARS, maxSummaryMinutes: MAX_MINUTES, cooldownMs: 0 } },
      app: { modelHost },
    });
    model = modelHost.model!;
    engine = modelHost.engine!;
    engine.open('main');
    host = await startPlugins({ config: t.app.config, bus: t.app.bus, gate: t.app.questions, log });
    engineAsked = vi.spyOn(engine, 'ask');
    engineSummarised = vi.spyOn(engine, 'summary');
  });

  afterAll(async () => {
    await host?.close();
    await t?.close();
  });

  it('the longest question is answered and one character more refused, by HTTP and the chats, and never reaches the engine', async () => {
    const longest = questionOf(MAX_CHARS);
    const tooLong = questionOf(MAX_CHARS + 1);
    expect(longest).toHaveLength(MAX_CHARS);

    const ask = (question: string) => t.app.http.inject({ method: 'POST', url: '/api/streams/main/ask', payload: { question, user: 'alice' } });
    const ok = await ask(longest);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ answer: expect.any(String), event: { question: longest } });
    const refused = await ask(tooLong);
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toEqual({ error: 'BAD_REQUEST', message: TOO_LONG });

    await expect(host.gate.ask({ stream: 'main', question: longest, user: 'bob', source: 'twitch' })).resolves.toMatchObject({ question: longest, answer: expect.any(String) });
    await expect(host.gate.ask({ stream: 'main', question: tooLong, user: 'bob', source: 'twitch' })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: TOO_LONG });

    // the engine was asked the longest question (once per way in, the second time shared) and never the refused one
    expect(engineAsked.mock.calls.map((c: unknown[]) => (c[0] as { question: string }).question)).toEqual([longest]);
    expect(host.gate).toBe(t.app.questions);
  });

  it('the longest summary window is given and one minute more refused, the same way everywhere', async () => {
    const ok = await t.app.http.inject(`/api/streams/main/summary?minutes=${MAX_MINUTES}`);
    expect(ok.statusCode).toBe(200);
    const refused = await t.app.http.inject(`/api/streams/main/summary?minutes=${MAX_MINUTES + 1}`);
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toEqual({ error: 'BAD_REQUEST', message: TOO_MANY_MINUTES });

    await expect(host.gate.summary({ stream: 'main', minutes: MAX_MINUTES, user: 'carol', source: 'discord' })).resolves.toMatchObject({ minutes: MAX_MINUTES });
    await expect(host.gate.summary({ stream: 'main', minutes: MAX_MINUTES + 1, user: 'carol', source: 'discord' })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: TOO_MANY_MINUTES });

    expect(engineSummarised.mock.calls.map((c: unknown[]) => c[1])).toEqual([MAX_MINUTES, MAX_MINUTES]);
  });
});
