import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/bus.ts';
import { startPlugins, type PluginHost } from '../../src/plugins/host.ts';
import { FakeBrain, printLatency, silentLog, waitFor } from './helpers.ts';
import { IRC_PASSWORD, Ngircd, RawIrc } from './helpers_ngircd.ts';

const ircd = new Ngircd();
beforeAll(() => ircd.start(), 15_000);
afterAll(() => ircd.stop());

// port as a string: what KIBITZ_PLUGINS_TWITCH_PORT would give.
async function startBot(bus: EventBus, brain: FakeBrain, nick: string, channel: string, extra: Record<string, unknown>, questions: Record<string, unknown> = {}): Promise<PluginHost> {
  const host = await startPlugins({
    config: {
      plugins: { twitch: { username: nick, token: IRC_PASSWORD, host: '127.0.0.1', port: String(ircd.port), ssl: false, connectTimeoutMs: 8000, ...extra }, questions },
      streams: [{ name: 'main', twitch: { channel, gets: ['commentary', 'answer', 'summary'], commentaryPerMinute: 60 } }],
    },
    bus, brain, log: silentLog, startWaitMs: 10_000,
  });
  expect(host.running()).toEqual(['twitch']);
  return host;
}

describe('twitch plugin (real @twurple/chat against ngircd)', () => {
  const bus = new EventBus();
  const brain = new FakeBrain(bus);
  const viewer = new RawIrc('alice');
  let host: PluginHost;

  beforeAll(async () => {
    host = await startBot(bus, brain, 'kibitzbot', 'alpha', { moderator: true, summaryOnEnd: true }, { cooldownMs: 0 });
    await viewer.connect(ircd.port, 'alpha');
  }, 20_000);
  afterAll(async () => {
    viewer.close();
    await host?.close();
  });

  it('answers !ask to the asker', async () => {
    const reply = viewer.nextPrivmsg((l) => l.from === 'kibitzbot');
    viewer.say('alpha', '!ask what is happening?');
    const l = await reply;
    expect(l.target).toBe('#alpha');
    expect(l.text).toBe('@alice answer to: what is happening?');
    expect(brain.asked.at(-1)).toMatchObject({ stream: 'main', user: 'alice', source: 'twitch', question: 'what is happening?' });
  });

  it('answers identical questions once, addressed to every asker', async () => {
    const bob = new RawIrc('bob');
    await bob.connect(ircd.port, 'alpha');
    brain.delayMs = 150;
    const asked = brain.asked.length;
    const reply = viewer.nextPrivmsg((l) => l.from === 'kibitzbot' && /who is winning/i.test(l.text));
    viewer.say('alpha', '!ask Who is winning?');
    await new Promise((r) => setTimeout(r, 30));
    bob.say('alpha', '!ask who is winning');
    const l = await reply.finally(() => (brain.delayMs = 0));
    expect(l.text).toBe('@alice @bob answer to: Who is winning?');
    expect(brain.asked.length - asked).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(viewer.privmsgs.filter((m) => /who is winning/i.test(m.text) && m.from === 'kibitzbot')).toHaveLength(1);
    bob.close();
  });

  it('posts commentary as one safe line', async () => {
    const line = viewer.nextPrivmsg((l) => l.from === 'kibitzbot');
    bus.publish({ stream: 'main', kind: 'commentary', text: '/ban alice\r\nPRIVMSG #alpha :injected', streamTimeMs: 1 });
    const l = await line;
    expect(l.text).toBe('ban alice PRIVMSG #alpha :injected');
  });

  it('overhead: !ask to reply, 50 commands', async () => {
    const samples: number[] = [];
    for (let i = 0; i < 55; i++) {
      const reply = viewer.nextPrivmsg((l) => l.from === 'kibitzbot' && l.text.endsWith(`question ${i}`));
      const t0 = performance.now();
      viewer.say('alpha', `!ask question ${i}`);
      const l = await reply;
      if (i >= 5) samples.push(l.at - t0);
    }
    const { p95 } = printLatency('twitch (!ask -> reply, via ngircd)', samples);
    expect(p95).toBeLessThan(process.env.KIBITZ_STRICT_PERF ? 50 : 500);
  }, 20_000);

  // Last here: after the stream's end the bot skips other summaries of it for a while.
  it('posts each summary once: !summary in place, one asked elsewhere from the bus, the end-of-stream one', async () => {
    const fromBot = (text: string) => viewer.privmsgs.filter((l) => l.from === 'kibitzbot' && l.text.includes(text));
    const reply = viewer.nextPrivmsg((l) => l.from === 'kibitzbot' && l.text.includes('over 4 min'));
    viewer.say('alpha', '!summary 4');
    expect((await reply).text).toBe('@alice last 4 min: summary of main over 4 min');
    // Asked for elsewhere (HTTP): the channel gets the bus event.
    const fromBus = viewer.nextPrivmsg((l) => l.from === 'kibitzbot' && l.text.includes('over 9 min'));
    await brain.summary('main', 9);
    expect((await fromBus).text).toBe('Summary: summary of main over 9 min');
    const end = viewer.nextPrivmsg((l) => l.from === 'kibitzbot' && l.text.startsWith('Stream ended'));
    bus.publish({ stream: 'main', kind: 'status', status: 'ended', text: '', streamTimeMs: 99_000 });
    expect((await end).text).toBe('Stream ended. Last 10 min: summary of main over 10 min');
    await new Promise((r) => setTimeout(r, 500));
    for (const m of [4, 9, 10]) expect(fromBot(`summary of main over ${m} min`)).toHaveLength(1);
  });
});

describe('twitch rate limit under a burst of 100 questions', () => {
  const bus = new EventBus();
  const brain = new FakeBrain(bus);
  const viewers = ['v1', 'v2', 'v3', 'v4'].map((n) => new RawIrc(n));
  let host: PluginHost;

  beforeAll(async () => {
    brain.delayMs = 20;
    // moderator: twurple itself would allow 100 / 30 s, so the 20 / 30 s seen here is kibitz's own budget.
    host = await startBot(bus, brain, 'kibitzburst', 'beta', { moderator: true, rateLimit: { messages: 20, windowMs: 30_000 } }, { cooldownMs: 0 });
    for (const v of viewers) await v.connect(ircd.port, 'beta');
  }, 20_000);
  afterAll(async () => {
    for (const v of viewers) v.close();
    await host?.close();
  });

  it('sends at most 20 messages in the window and answers some', async () => {
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) viewers[i % 4]!.say('beta', `!ask burst question ${i}`);
    const fromBot = () => viewers[0]!.privmsgs.filter((l) => l.from === 'kibitzburst' && l.at >= t0);
    await waitFor(() => fromBot().length >= 20, 10_000, '20 bot messages');
    await new Promise((r) => setTimeout(r, 3000));
    const sent = fromBot();
    console.log(`burst: 100 questions from 4 viewers -> ${sent.length} bot messages within ${((performance.now() - t0) / 1000).toFixed(1)} s; model asked ${brain.asked.length} times`);
    expect(sent).toHaveLength(20);
    expect(sent.filter((l) => /answer to: burst question/.test(l.text)).length).toBeGreaterThan(0);
    // The per-stream bound (20) turned some away; they were told, within the same budget.
    expect(brain.asked.length).toBeLessThan(100);
    // and no message repeats
    expect(new Set(sent.map((l) => l.text)).size).toBe(sent.length);
    // what the operator sees on /metrics (kibitz_plugin_counter): 20 sent, none failed
    const c = Object.fromEntries(host.counters().map((x) => [x.counter, x.value]));
    expect(c).toMatchObject({ sent: 20, sendFailures: 0 });
  }, 20_000);
});
