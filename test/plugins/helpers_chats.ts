import { expect } from 'vitest';
import type { KibitzApp } from '../../src/app.ts';
import { startPlugins, type PluginHost } from '../../src/plugins/host.ts';
import type { FakeDiscord } from './fakes/discord.ts';
import { silentLog } from './helpers.ts';
import { IRC_PASSWORD, type Ngircd, type RawIrc } from './helpers_ngircd.ts';

/**
 * Both chat plugins on an app's stream "main", as `kibitz serve` starts them (through the app's
 * question gate): real @twurple/chat against ngircd in channel #alpha (the viewer joins it) and
 * real discord.js against the fake Discord. Returns once both run.
 */
export async function startBothChats(app: KibitzApp, chats: { ircd: Ngircd; discord: FakeDiscord; viewer: RawIrc; discordOptions?: Record<string, unknown> }): Promise<PluginHost> {
  const { ircd, discord, viewer } = chats;
  const host = await startPlugins({
    config: {
      plugins: {
        twitch: { username: 'kibitzbot', token: IRC_PASSWORD, host: '127.0.0.1', port: String(ircd.port), ssl: false, connectTimeoutMs: 8000 },
        discord: { token: 'fake-token', apiBase: discord.apiBase, ...chats.discordOptions },
      },
      streams: [{ name: 'main', twitch: { channel: 'alpha', gets: ['commentary'] }, discord: { channelId: discord.channelId, gets: ['commentary'] } }],
    },
    bus: app.bus, gate: app.questions, log: silentLog, startWaitMs: 10_000,
  });
  expect(host.running().sort()).toEqual(['discord', 'twitch']);
  await viewer.connect(ircd.port, 'alpha');
  return host;
}

/** Stops what startBothChats and the test started, in reverse order. */
export async function stopBothChats(host: PluginHost | undefined, close: { viewer: RawIrc; discord: FakeDiscord; ircd: Ngircd; app?: { close(): Promise<void> } }): Promise<void> {
  close.viewer.close();
  await host?.close();
  await close.app?.close();
  await close.discord.stop();
  close.ircd.stop();
}
