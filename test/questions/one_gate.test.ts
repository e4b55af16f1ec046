import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PluginHost } from '../../src/plugins/host.ts';
import { brainHost, startTestApp, testKey, type TestApp } from '../helpers/app.ts';
import { FakeDiscord } from '../plugins/fakes/discord.ts';
import { FakeBrain } from '../plugins/helpers.ts';
import { startBothChats, stopBothChats } from '../plugins/helpers_chats.ts';
import { Ngircd, RawIrc } from '../plugins/helpers_ngircd.ts';

const MAX_CHARS = 40;
const ANSWER = 'the home side leads by two';
const TOO_LONG = `the question is longer than ${MAX_CHARS} characters; ask a shorter one`;
const EMPTY = 'the question is empty';
/** A question of n characters that cleaning leaves as it is. */
const questionOf = (n: number) => 'who is winning the match right now '.repeat(3).slice(0, n - 1) + '?';
/** Only command characters: cleaned, nothing is left. */
const EMPTY_QUESTION = '!! //';

/**
 * The one question gate: HTTP /ask, Twitch !ask (real @twurple/chat against ngircd) and Discord
 * /ask (real discord.js against the fake gateway) send the same over-long, empty and flooding
 * questions through the app's gate and get the same answers and refusals, each in its own words.
 * The model side is asked exactly the questions the gate let through, once each.
 */
describe('one question gate for HTTP, Twitch and Discord', () => {
  const ircd = new Ngircd();
  const discord = new FakeDiscord();
  const viewer = new RawIrc('alice');
  let brain: FakeBrain;
  let t: TestApp;
  let plugins: PluginHost;

  beforeAll(async () => {
    await ircd.start();
    await discord.start();
    t = await startTestApp({
      streams: [{ name: 'main', key: testKey() }],
      config: { questions: { maxQuestionChars: MAX_CHARS, cooldownMs: 60_000 } },
      app: {
        modelHost: brainHost((parts) => {
          brain = new FakeBrain(parts.bus);
          brain.answerFor = () => ANSWER;
          return brain;
        }),
      },
    });
    plugins = await startBothChats(t.app, { ircd, discord, viewer });
  }, 30_000);

  afterAll(() => stopBothChats(plugins, { viewer, discord, ircd, app: t }));

  const http = async (question: string) => {
    const r = await t.app.http.inject({ method: 'POST', url: '/api/streams/main/ask', payload: { question, user: 'alice' } });
    return { status: r.statusCode, body: r.json() as { answer?: string; error?: string; message?: string } };
  };
  const twitch = async (question: string) => {
    const reply = viewer.nextPrivmsg((l) => l.from === 'kibitzbot');
    viewer.say('alpha', `!ask ${question}`);
    return (await reply).text;
  };
  const discordAsk = async (question: string) => {
    const edit = discord.nextCall((c) => c.method === 'PATCH' && c.path.includes('/messages/@original'));
    discord.sendCommand('ask', [{ name: 'question', type: 3, value: question }], 'alice');
    return (await edit).body.content as string;
  };

  it('an over-long question and an empty one are refused the same way, before the model is asked', async () => {
    const tooLong = questionOf(MAX_CHARS + 1);
    expect(await http(tooLong)).toEqual({ status: 400, body: { error: 'BAD_REQUEST', message: TOO_LONG } });
    expect(await twitch(tooLong)).toBe(`@alice I can't take that: ${TOO_LONG}`);
    expect(await discordAsk(tooLong)).toBe(`I can't take that: ${TOO_LONG}`);

    expect(await http(EMPTY_QUESTION)).toEqual({ status: 400, body: { error: 'BAD_REQUEST', message: EMPTY } });
    expect(await twitch(EMPTY_QUESTION)).toBe(`@alice I can't take that: ${EMPTY}`);
    expect(await discordAsk(EMPTY_QUESTION)).toBe(`I can't take that: ${EMPTY}`);
    expect(brain.asked).toEqual([]);
  });

  it('the longest question is answered alike; asking again at once is refused by the cooldown everywhere', async () => {
    const longest = questionOf(MAX_CHARS);
    // one question per way in, so that none joins another's answer (joining costs no cooldown)
    const web = `${longest.slice(0, -2)}1?`;
    const irc = `${longest.slice(0, -2)}2?`;
    const dsc = `${longest.slice(0, -2)}3?`;
    const h = await http(web);
    expect(h).toMatchObject({ status: 200, body: { answer: ANSWER } });
    expect(await twitch(irc)).toBe(`@alice ${ANSWER}`);
    expect(await discordAsk(dsc)).toBe(ANSWER);

    // flooding: each asker at once again
    const flood = await http('and now who is winning?');
    expect(flood.status).toBe(429);
    expect(flood.body).toMatchObject({ error: 'COOLDOWN', message: 'asked too recently' });
    expect(await discordAsk('and now who is winning?')).toMatch(/^please wait \d+s before asking again\.$/);
    // Twitch keeps cooldown refusals quiet (they would spend the channel's budget): the next
    // thing the bot says is the answer to !help, not to the flooding question
    const next = viewer.nextPrivmsg((l) => l.from === 'kibitzbot');
    viewer.say('alpha', '!ask and now who is winning?');
    viewer.say('alpha', '!help');
    expect((await next).text).toMatch(/^@alice /);
    expect((await next).text).not.toContain(ANSWER);

    // the model side saw exactly what the gate let through, once each
    expect(brain.asked.map((r) => [r.question, r.source])).toEqual([[web, 'http'], [irc, 'twitch'], [dsc, 'discord']]);
  });
});
