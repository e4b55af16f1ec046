import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/bus.ts';
import { startPlugins, type PluginHost } from '../../src/plugins/host.ts';
import { FakeDiscord } from './fakes/discord.ts';
import { FakeBrain, printLatency, silentLog, waitFor } from './helpers.ts';

const LIVE_MENTION = /@(everyone|here)|<@!?\d+>|<@&\d+>|<#\d+>/;

describe('discord plugin against a fake Discord (real discord.js)', () => {
  const fake = new FakeDiscord();
  const bus = new EventBus();
  const brain = new FakeBrain(bus);
  let host: PluginHost;

  beforeAll(async () => {
    await fake.start();
    host = await startPlugins({
      config: {
        plugins: { discord: { token: 'fake-token', apiBase: fake.apiBase, messageCommands: 'true', channelRate: { messages: 5, windowMs: 1500 } }, questions: { cooldownMs: 30_000 } },
        streams: [{ name: 'main', discord: { channelId: fake.channelId, gets: ['commentary', 'answer', 'summary', 'status'], commentaryPerMinute: 60 } }],
      },
      bus, brain, log: silentLog,
    });
    expect(host.running()).toEqual(['discord']);
  });

  afterAll(async () => {
    await host?.close();
    await fake.stop();
  });

  it('registers slash commands per guild', () => {
    const put = fake.calls.find((c) => c.method === 'PUT' && c.path.endsWith(`/guilds/${fake.guildId}/commands`));
    expect(put?.body.map((c: { name: string }) => c.name)).toEqual(['ask', 'summary', 'status', 'help']);
    // Guilds + GuildMessages + MessageContent (message commands are on)
    expect(fake.identify.intents).toBe(1 | 512 | 32768);
  });

  it('answers /ask with a deferred reply edited to the answer, mentions neutralised', async () => {
    const edit = fake.nextCall((c) => c.method === 'PATCH' && c.path.includes('/messages/@original'));
    const token = fake.sendCommand('ask', [{ name: 'question', type: 3, value: 'is @everyone here, <@123> <@&456>?' }], 'alice');
    const call = await edit;
    expect(call.path).toContain(token);
    const deferred = fake.calls.find((c) => c.path.endsWith('/callback') && c.path.includes(`/${token}/`));
    expect(deferred?.body.type).toBe(5); // DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
    expect(deferred!.at).toBeLessThan(call.at);
    expect(call.body.content).toMatch(/^answer to: is @\u200beveryone here/);
    expect(call.body.content).not.toMatch(LIVE_MENTION);
    expect(call.body.allowed_mentions).toEqual({ parse: [], replied_user: false });
    expect(brain.asked.at(-1)).toMatchObject({ stream: 'main', user: 'alice', source: 'discord' });
  });

  it('tells a user on cooldown to wait, and answers /summary and /status', async () => {
    let edit = fake.nextCall((c) => c.method === 'PATCH');
    fake.sendCommand('ask', [{ name: 'question', type: 3, value: 'again?' }], 'alice');
    expect((await edit).body.content).toMatch(/please wait \d+s/);
    edit = fake.nextCall((c) => c.method === 'PATCH');
    fake.sendCommand('summary', [{ name: 'minutes', type: 4, value: 3 }], 'bob');
    expect((await edit).body.content).toBe('Last 3 min: summary of main over 3 min');
    const reply = fake.nextCall((c) => c.path.endsWith('/callback'));
    fake.sendCommand('status', [], 'carol');
    expect((await reply).body).toMatchObject({ type: 4, data: { content: expect.stringMatching(/^main: /), allowed_mentions: { parse: [] } } });
  });

  it('splits a long answer at 2000 characters', async () => {
    brain.answerFor = () => 'word '.repeat(900) + '@everyone';
    const followUps = fake.nextCall((c) => c.method === 'POST' && /\/webhooks\/\d+\/[^/]+$/.test(c.path) && (c.body?.content ?? '').includes('@\u200beveryone'));
    const edit = fake.nextCall((c) => c.method === 'PATCH');
    fake.sendCommand('ask', [{ name: 'question', type: 3, value: 'tell me everything' }], 'erin');
    const [e, f] = await Promise.all([edit, followUps]).finally(() => (brain.answerFor = (q) => `answer to: ${q}`));
    const parts = [e.body.content, ...fake.calls.filter((c) => c.method === 'POST' && /\/webhooks\/\d+\/[^/]+$/.test(c.path) && c.at <= f.at).map((c) => c.body.content)];
    expect(parts.length).toBe(3);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(2000);
    expect(parts.join(' ').replace(/\s+/g, ' ').trim()).toBe(('word '.repeat(900) + '@\u200beveryone').trim());
  });

  it('answers !ask message commands in the channel without pinging', async () => {
    const post = fake.nextCall((c) => c.method === 'POST' && c.path.endsWith('/messages') && /answer to/.test(c.body.content));
    fake.sendMessage('!ask what about @here and <#789>?', 'dave');
    const call = await post;
    expect(call.body.content).toBe('**dave**: answer to: what about @\u200bhere and <#\u200b789>?');
    expect(call.body.allowed_mentions.parse).toEqual([]);
  });

  it('posts commentary to the stream channel within its budget (5 per window), merging the rest', async () => {
    await new Promise((r) => setTimeout(r, 1600)); // let the channel budget refill
    const before = fake.channelMessages().length;
    const t0 = Date.now();
    for (let i = 0; i < 30; i++) bus.publish({ stream: 'main', kind: 'commentary', text: `play ${i} @everyone <@42>`, streamTimeMs: i * 100 });
    await waitFor(() => fake.channelMessages().length - before >= 5, 3000, 'first five lines');
    await new Promise((r) => setTimeout(r, 300));
    const burst = fake.channelMessages().slice(before);
    expect(burst).toHaveLength(5);
    expect(burst[0]).toBe('play 0 @\u200beveryone <@\u200b42>');
    await waitFor(() => fake.channelMessages().length - before >= 6, 3000, 'merged line');
    expect(Date.now() - t0).toBeGreaterThan(1400);
    expect(fake.channelMessages().at(-1)).toBe('play 29 @\u200beveryone <@\u200b42> (+24 more)');
  }, 10_000);

  /** Messages (channel posts and command replies) that contain `text`. */
  const postsOf = (text: string) => fake.messageCalls().filter((c) => ((c.body.data ?? c.body).content ?? '').includes(text));

  it('posts each summary once: /summary and !summary in place, one asked elsewhere from the bus', async () => {
    await new Promise((r) => setTimeout(r, 1600)); // let the channel budget refill
    const edit = fake.nextCall((c) => c.method === 'PATCH' && /over 7 min/.test(c.body?.content ?? ''));
    fake.sendCommand('summary', [{ name: 'minutes', type: 4, value: 7 }], 'gina');
    expect((await edit).body.content).toBe('Last 7 min: summary of main over 7 min');
    const post = fake.nextCall((c) => c.method === 'POST' && /over 8 min/.test(c.body?.content ?? ''));
    fake.sendMessage('!summary 8', 'hank');
    expect((await post).body.content).toBe('**hank**: last 8 min: summary of main over 8 min');
    // Asked for elsewhere (HTTP): the channel gets the bus event.
    const fromBus = fake.nextCall((c) => c.method === 'POST' && /over 9 min/.test(c.body?.content ?? ''));
    await brain.summary('main', 9);
    expect((await fromBus).body.content).toBe('Summary: summary of main over 9 min');
    await new Promise((r) => setTimeout(r, 300));
    for (const m of [7, 8, 9]) expect(postsOf(`summary of main over ${m} min`)).toHaveLength(1);
  });

  it('posts the stream end and its summary once', async () => {
    await new Promise((r) => setTimeout(r, 1600));
    const summary = fake.nextCall((c) => c.method === 'POST' && /ended\. Last 10 min/.test(c.body?.content ?? ''));
    bus.publish({ stream: 'main', kind: 'status', status: 'ended', text: '', streamTimeMs: 99_000 });
    expect((await summary).body.content).toBe('Stream main ended. Last 10 min: summary of main over 10 min');
    expect(fake.channelMessages()).toContain('Stream main is ended');
    await new Promise((r) => setTimeout(r, 300));
    expect(postsOf('summary of main over 10 min')).toHaveLength(1);
  });

  it('never sends a message with mentions enabled', () => {
    const calls = fake.messageCalls();
    expect(calls.length).toBeGreaterThan(8);
    for (const c of calls) {
      const payload = c.body.data ?? c.body;
      expect(payload.allowed_mentions?.parse).toEqual([]);
      expect(payload.content ?? '').not.toMatch(LIVE_MENTION);
    }
  });

  it('overhead: /ask to edited reply, 50 commands', async () => {
    const samples: number[] = [];
    // discord.js (like Discord) allows 50 REST requests/s globally and each command makes two
    // (defer + edit), so commands are spaced 50 ms apart to measure overhead, not that queue.
    await new Promise((r) => setTimeout(r, 1100));
    for (let i = 0; i < 55; i++) {
      const started = performance.now();
      const edit = fake.nextCall((c) => c.method === 'PATCH');
      const t0 = performance.now();
      fake.sendCommand('ask', [{ name: 'question', type: 3, value: `question number ${i}` }], `user${i}`);
      const call = await edit;
      expect(call.body.content).toBe(`answer to: question number ${i}`);
      if (i >= 5) samples.push(call.at - t0); // first five warm up
      await new Promise((r) => setTimeout(r, Math.max(0, 50 - (performance.now() - started))));
    }
    const { p95 } = printLatency('discord (/ask -> editReply, fake gateway+REST)', samples);
    // Target p95 < 50 ms; strict only on request, as shared 2-core CI machines stall for 100s of ms.
    expect(p95).toBeLessThan(process.env.KIBITZ_STRICT_PERF ? 50 : 500);
  });
});

describe('discord plugin that cannot connect', () => {
  it('fails its setup without holding up the host or other plugins, and is retried', async () => {
    const bus = new EventBus();
    const host = await startPlugins({
      config: { plugins: { console: { kinds: ['status'] }, discord: { token: 'x', apiBase: 'http://127.0.0.1:9/api', connectTimeoutMs: 1000 } } },
      bus, brain: new FakeBrain(bus), log: silentLog, startWaitMs: 300, backoff: { baseMs: 50, maxMs: 200 },
    });
    expect(host.running()).toEqual(['console']);
    await new Promise((r) => setTimeout(r, 500));
    expect(host.running()).toEqual(['console']);
    await host.close();
  });
});
