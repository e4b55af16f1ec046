import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EventBus } from '../../src/bus.ts';
import { startPlugins, type PluginHost } from '../../src/plugins/host.ts';
import { OPEN_HELP } from '../../src/questions/kinds.ts';
import {
  bool, ChatCommands, chatRouteSchema, parseChatCommand, definePlugin, num, SlidingWindow,
  type ChatRoute, type ChatTransport, type PluginContext,
} from '../../src/plugins/sdk.ts';
import { FakeBrain, silentLog, waitFor } from './helpers.ts';

/**
 * A chat platform written the way a new one would be, against the SDK alone: its options, its
 * route under each stream, its texts and a transport that records what it sends. No sockets.
 */
const options = z.object({
  summaryMinutes: num(z.number().int().min(1)).default(5),
  summaryOnEnd: bool().default(true),
  summaryOnEndMinutes: num(z.number().int().min(1)).default(10),
  maxQueuedReplies: num(z.number().int().min(1)).default(20),
  canPost: bool().default(true),
  quietCooldowns: bool().default(false),
});
const route = chatRouteSchema('room', 'rooms', (r) => r.toLowerCase());
type Route = ChatRoute & { rooms: string[] };

class FakeChat implements ChatTransport<Route> {
  readonly sent: { room: string; text: string }[] = [];
  readonly chat: ChatCommands<Route>;
  readonly canPost: boolean;
  readonly quietCooldowns: boolean;
  readonly texts = {
    answer: (users: string[], answer: string) => `[${users.join('+')}] ${answer}`,
    summary: (user: string, r: { minutes: number; summary: string }) => `[${user}] ${r.minutes}: ${r.summary}`,
    refusal: (user: string, message: string) => `[${user}] ${message}`,
    relayedAnswer: (ev: { user?: string; text: string }) => `${ev.user} heard: ${ev.text}`,
    status: (ev: { status?: string }) => `now ${ev.status}`,
    endSummary: (stream: string, r: { summary: string }) => `${stream} over: ${r.summary}`,
  };
  constructor(ctx: PluginContext<z.infer<typeof options>, Route>) {
    this.canPost = ctx.options.canPost;
    this.quietCooldowns = ctx.options.quietCooldowns;
    this.chat = new ChatCommands(ctx, this);
  }
  targets = (r: Route) => r.rooms;
  fit = (text: string) => [text.slice(0, 200)];
  windows = () => [new SlidingWindow(100, 1000)];
  send = async (room: string, text: string) => void this.sent.push({ room, text });
  /** What every platform's bot does: the one parser turns `!ask ...` / `!summary [n]` / `!help` into a command. */
  say(room: string, user: string, text: string): Promise<void> {
    const cmd = parseChatCommand(text);
    return cmd ? this.chat.command(room, user, cmd) : Promise.resolve();
  }
}

async function start(pluginOptions: Record<string, unknown> = {}, questions: Record<string, unknown> = { cooldownMs: 0 }) {
  const bus = new EventBus();
  const brain = new FakeBrain(bus);
  let bot: FakeChat | undefined;
  const plugin = definePlugin({
    name: 'fakechat', options, route,
    setup(ctx) {
      bot = new FakeChat(ctx);
      return () => bot!.chat.close();
    },
  });
  const host: PluginHost = await startPlugins({
    config: {
      plugins: { fakechat: pluginOptions, questions },
      streams: [{ name: 'main', fakechat: { room: 'Lobby', gets: ['commentary', 'answer', 'summary', 'status'], commentaryPerMinute: 60 } }, { name: 'other' }],
    },
    bus, brain, log: silentLog, catalogue: [plugin],
  });
  const texts = () => bot!.sent.map((s) => s.text);
  return { bus, brain, host, bot: bot!, texts };
}

describe('chat commands shared by every chat platform', () => {
  it('a route is declared by the plugin, validated under its name, and each plugin sees only its own', async () => {
    const plugin = definePlugin({ name: 'fakechat', options, route, setup: () => () => {} });
    await expect(startPlugins({ config: { plugins: {}, streams: [{ name: 'main', fakechat: { room: 5 } }] }, bus: new EventBus(), brain: new FakeBrain(new EventBus()), log: silentLog, catalogue: [plugin] }))
      .rejects.toThrow(/^streams\[0\]\.fakechat\.room/);
    const { bot, host } = await start();
    expect(bot.chat.targets()).toEqual(['lobby']);
    expect(bot.chat.streamFor('lobby')).toBe('main');
    expect(bot.chat.streamFor('elsewhere')).toBeUndefined(); // two streams: no default
    await host.close();
  });

  it('answers in place once per room, addressed to everyone who asked the same; relays answers from elsewhere', async () => {
    const { bot, brain, host, texts } = await start();
    brain.delayMs = 50;
    await Promise.all([bot.say('lobby', 'ann', '!ask who leads?'), bot.say('lobby', 'bo', '!ask Who leads')]);
    await waitFor(() => texts().length >= 1, 1000);
    expect(texts()).toEqual(['[ann+bo] answer to: who leads?']);
    expect(brain.asked).toHaveLength(1);
    expect(brain.asked[0]).toMatchObject({ source: 'fakechat', user: 'ann' });
    await bot.say('lobby', 'cy', '!ask'); // nothing to ask
    await brain.ask({ stream: 'main', question: 'from http', user: 'dee', source: 'http' });
    await waitFor(() => texts().length >= 2, 1000);
    expect(texts()).toEqual(['[ann+bo] answer to: who leads?', 'dee heard: answer to: from http']);
    await host.close();
  });

  it('answers !help in place with what the model side says can be asked, without asking the model or starting a cooldown', async () => {
    const { bot, brain, host, texts } = await start({}, { cooldownMs: 60_000 });
    await bot.say('lobby', 'ann', '!help');
    expect(texts()).toEqual([`[ann] ${OPEN_HELP}`]); // a Brain that cannot say (FakeBrain has no help)
    Object.assign(brain, { help: (stream: string) => `on ${stream} I can answer the score` });
    await bot.say('lobby', 'ann', '!help');
    await bot.say('lobby', 'ann', '!ask what is the score?'); // no cooldown was started by !help
    await waitFor(() => texts().length >= 3, 1000);
    expect(texts()).toEqual([`[ann] ${OPEN_HELP}`, '[ann] on main I can answer the score', '[ann] answer to: what is the score?']);
    expect(brain.asked).toHaveLength(1);
    await host.close();
  });

  it('posts each summary once: a command in place, one from elsewhere from the bus, the end-of-stream one', async () => {
    const { bot, bus, brain, host, texts } = await start();
    await bot.say('lobby', 'ann', '!summary 3');
    await bot.say('lobby', 'bo', '!summary');
    await brain.summary('main', 9);
    bus.publish({ stream: 'main', kind: 'status', status: 'ended', text: '', streamTimeMs: 1 });
    await waitFor(() => texts().length >= 5, 1000);
    await new Promise((r) => setTimeout(r, 50));
    expect(texts()).toEqual([
      '[ann] 3: summary of main over 3 min',
      '[bo] 5: summary of main over 5 min',
      'Summary: summary of main over 9 min',
      'now ended',
      'main over: summary of main over 10 min',
    ]);
    await host.close();
  });

  it('tells a refused asker why, unless cooldowns are quiet; a chat that cannot post stays out of it', async () => {
    const loud = await start({}, { cooldownMs: 60_000 });
    await loud.bot.say('lobby', 'ann', '!ask one?');
    await loud.bot.say('lobby', 'ann', '!ask two?');
    await waitFor(() => loud.texts().length >= 2, 1000);
    expect(loud.texts()[1]).toMatch(/^\[ann\] please wait \d+s/);
    await loud.host.close();

    const quiet = await start({ quietCooldowns: true }, { cooldownMs: 60_000 });
    await quiet.bot.say('lobby', 'ann', '!ask one?');
    await quiet.bot.say('lobby', 'ann', '!ask two?');
    await new Promise((r) => setTimeout(r, 50));
    expect(quiet.texts()).toEqual(['[ann] answer to: one?']);
    await quiet.host.close();

    const mute = await start({ canPost: false });
    await mute.bot.say('lobby', 'ann', '!ask one?');
    mute.bus.publish({ stream: 'main', kind: 'commentary', text: 'a line', streamTimeMs: 1 });
    mute.bus.publish({ stream: 'main', kind: 'status', status: 'ended', text: '', streamTimeMs: 1 });
    await new Promise((r) => setTimeout(r, 50));
    expect(mute.brain.asked).toHaveLength(0);
    expect(mute.texts()).toEqual([]);
    await mute.host.close();
  });
});
