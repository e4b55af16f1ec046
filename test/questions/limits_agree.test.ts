import { EventEmitter } from 'node:events';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KibitzEvent } from '../../src/events.ts';
import type { ModelEngine } from '../../src/model/engine.ts';
import { embeddedModelHost } from '../../src/model_host/embedded.ts';
import type { Model } from '../../src/model/model.ts';
import { startPlugins, type PluginHost } from '../../src/plugins/host.ts';
import { questionPolicyOf } from '../../src/questions/policy.ts';
import { RedisBrain, type RedisBrainDeps } from '../../src/queue/redis/remote_brain.ts';
import { Keys } from '../../src/queue/redis/keys.ts';
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
 * same message, whichever way it comes in: HTTP, the chat gate, the embedded engine, the Redis
 * ingest node. The same for summary minutes.
 */
describe('question limits agree end to end', () => {
  let t: TestApp;
  let model: Model;
  let engine: ModelEngine;
  let host: PluginHost;
  let redis: RedisBrain;

  beforeAll(async () => {
    const modelHost = embeddedModelHost();
    t = await startTestApp({
      streams: [{ name: 'main', key: testKey() }],
      config: { model: { package: 'models/kibitz-demo' }, plugins: { questions: { maxQuestionChars: MAX_CHARS, maxSummaryMinutes: MAX_MINUTES, cooldownMs: 0 } } },
      app: { modelHost },
    });
    model = modelHost.model!;
    engine = modelHost.engine!;
    engine.open('main');
    host = await startPlugins({ config: t.app.config, bus: t.app.bus, brain: t.app.brain, log });
    // Only its checks are exercised here (they come before any Redis command); test/queue runs it against Redis.
    const deps = {
      node: 'n1', keys: new Keys('kibitz'), questions: questionPolicyOf(t.app.config), log,
      redis: Object.assign(new EventEmitter(), { status: 'wait' }),
      session: () => ({ state: 'live' }),
      publishOnce: (ev: KibitzEvent) => ev,
    } as unknown as RedisBrainDeps;
    redis = new RedisBrain(deps);
  });

  afterAll(async () => {
    await host?.close();
    await t?.close();
  });

  it('the longest question is answered and one character more refused, by HTTP, the chat gate and the engine', async () => {
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

    await expect(engine.ask({ stream: 'main', question: longest })).resolves.toMatchObject({ answer: expect.any(String) });
    await expect(engine.ask({ stream: 'main', question: tooLong })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: TOO_LONG });

    await expect(redis.ask({ stream: 'main', question: tooLong })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: TOO_LONG });
  });

  it('the longest summary window is given and one minute more refused, the same way everywhere', async () => {
    const ok = await t.app.http.inject(`/api/streams/main/summary?minutes=${MAX_MINUTES}`);
    expect(ok.statusCode).toBe(200);
    const refused = await t.app.http.inject(`/api/streams/main/summary?minutes=${MAX_MINUTES + 1}`);
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toEqual({ error: 'BAD_REQUEST', message: TOO_MANY_MINUTES });

    await expect(host.gate.summary({ stream: 'main', minutes: MAX_MINUTES, user: 'carol', source: 'discord' })).resolves.toMatchObject({ minutes: MAX_MINUTES });
    await expect(host.gate.summary({ stream: 'main', minutes: MAX_MINUTES + 1, user: 'carol', source: 'discord' })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: TOO_MANY_MINUTES });

    await expect(engine.summary('main', MAX_MINUTES)).resolves.toMatchObject({ summary: expect.any(String) });
    await expect(engine.summary('main', MAX_MINUTES + 1)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: TOO_MANY_MINUTES });

    await expect(redis.summary('main', MAX_MINUTES + 1)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: TOO_MANY_MINUTES });
  });
});
