import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { KibitzEvent } from '../../src/events.ts';
import type { ModelEngine } from '../../src/model/engine.ts';
import { embeddedModelHost } from '../../src/model_host/embedded.ts';
import type { Model } from '../../src/model/model.ts';
import type { PluginHost } from '../../src/plugins/host.ts';
import { startTestApp, testKey, type TestApp } from '../helpers/app.ts';
import { FakeDiscord } from './fakes/discord.ts';
import { startBothChats, stopBothChats } from './helpers_chats.ts';
import { Ngircd, RawIrc } from './helpers_ngircd.ts';

const HELP = /^I can answer the score, lives, the level, .* and when the player was last hit — try asking "what's the score\?"$/;
// Memory questions are recalled from what was said; nothing is said before the first frame, so these are known.
const NO_HIT = 'I have not seen the player get hit';
const NO_GEM = 'I have not seen a gem picked up';

/**
 * Viewers' own words, through the real engine on the bundled demo package: a reworded question
 * reaches its kind (the decoder is asked the kind's canonical question; a memory question is
 * recalled by its kind), and a question the package cannot answer gets the honest line at once,
 * never a guess. Over HTTP /ask, Twitch !ask / !help (real @twurple/chat against ngircd) and
 * Discord /ask / /help (real discord.js against a fake Discord).
 */
describe("viewers' own words: /ask, !ask and Discord /ask through the real engine", () => {
  const ircd = new Ngircd();
  const discord = new FakeDiscord();
  const viewer = new RawIrc('alice');
  let t: TestApp;
  let model: Model;
  let engine: ModelEngine;
  let host: PluginHost;
  let asked: ReturnType<typeof vi.spyOn>;
  const events: KibitzEvent[] = [];

  beforeAll(async () => {
    await ircd.start();
    await discord.start();
    const modelHost = embeddedModelHost();
    t = await startTestApp({ streams: [{ name: 'main', key: testKey() }], config: { model: { package: 'models/kibitz-demo' }, plugins: { questions: { cooldownMs: 0 } } }, app: { modelHost } });
    model = modelHost.model!;
    asked = vi.spyOn(model.prompts, 'question');
    engine = modelHost.engine!;
    engine.open('main');
    t.app.bus.subscribe((e) => events.push(e));
    host = await startBothChats(t.app, { ircd, discord, viewer, discordOptions: { messageCommands: 'true' } });
  }, 30_000);

  afterAll(() => stopBothChats(host, { viewer, discord, ircd, app: t }));

  const http = async (question: string) => {
    const r = await t.app.http.inject({ method: 'POST', url: '/api/streams/main/ask', payload: { question, user: 'web' } });
    expect(r.statusCode).toBe(200);
    return r.json() as { answer: string; event: KibitzEvent };
  };

  it('HTTP: a reworded question is asked in the words the model knows; a memory question is recalled by its kind', async () => {
    asked.mockClear();
    const score = await http('yo whats the score lol');
    expect(score.answer).not.toMatch(HELP);
    expect(asked).toHaveBeenCalledWith('what is the score ?', expect.any(Number));
    expect(score.event).toMatchObject({ kind: 'answer', question: 'yo whats the score lol' }); // the asker's words stay on the event

    asked.mockClear();
    expect((await http('which colour gem did he grab most recently?')).answer).toBe(NO_GEM);
    expect((await http('When did the player last take damage??')).answer).toBe(NO_HIT);
    expect(asked.mock.calls.map((c: unknown[]) => c[0])).toEqual(['what colour was the last gem ?', 'when was the player last hit ?']);
  });

  it('HTTP: questions it cannot answer get the honest line at once, and the model is not asked', async () => {
    asked.mockClear();
    for (const q of ['what is the capital of france?', 'who is the streamer?', 'asdf qwerty zxcv', '😂', 'is this minecraft']) {
      expect((await http(q)).answer, q).toMatch(HELP);
    }
    expect(asked).not.toHaveBeenCalled();
    expect(events.filter((e) => e.kind === 'answer' && e.question === 'who is the streamer?').map((e) => e.text)).toEqual([engine.help('main')]);
  });

  it('Twitch: !ask in other words, !ask out of scope, and !help', async () => {
    let reply = viewer.nextPrivmsg((l) => l.from === 'kibitzbot');
    viewer.say('alpha', '!ask when did he last get hurt');
    expect((await reply).text).toBe(`@alice ${NO_HIT}`);

    reply = viewer.nextPrivmsg((l) => l.from === 'kibitzbot');
    viewer.say('alpha', "!ask what's the weather like today");
    expect((await reply).text).toMatch(/^@alice I can answer the score, /);

    reply = viewer.nextPrivmsg((l) => l.from === 'kibitzbot');
    viewer.say('alpha', '!help');
    // The same line again within the channel's duplicate window: Twitch's outbox numbers it.
    expect((await reply).text).toBe(`@alice ${engine.help('main')} (2)`);
  });

  it('Discord: /ask in other words, /ask out of scope, /help and !help', async () => {
    let edit = discord.nextCall((c) => c.method === 'PATCH' && c.path.includes('/messages/@original'));
    discord.sendCommand('ask', [{ name: 'question', type: 3, value: 'what color was the last gem he collected' }], 'bob');
    expect((await edit).body.content).toBe(NO_GEM);

    edit = discord.nextCall((c) => c.method === 'PATCH' && c.path.includes('/messages/@original'));
    discord.sendCommand('ask', [{ name: 'question', type: 3, value: 'why did he do that?' }], 'bob');
    expect((await edit).body.content).toMatch(HELP);

    const reply = discord.nextCall((c) => c.path.endsWith('/callback') && c.body.type === 4);
    discord.sendCommand('help', [], 'carol');
    expect((await reply).body.data.content).toBe(engine.help('main'));

    const post = discord.nextCall((c) => c.method === 'POST' && c.path.endsWith('/messages'));
    discord.sendMessage('!help', 'dave');
    expect((await post).body.content).toBe(`**dave**: ${engine.help('main')}`);
  });
});
