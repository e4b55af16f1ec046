import { z } from 'zod';
import { bool, chatRouteSchema, num } from '../../src/plugins/sdk.ts';

export const twitchOptions = z.object({
  /** Login name the token belongs to. */
  username: z.string().min(1).optional(),
  /** OAuth token (with or without "oauth:"). Env: KIBITZ_PLUGINS_TWITCH_TOKEN. Without one, chat is read-only. */
  token: z.string().min(1).optional(),
  /** IRC server. Tests point this at a local ngircd (with `ssl: false`). */
  host: z.string().min(1).default('irc.chat.twitch.tv'),
  port: num(z.number().int().min(1).max(65535)).optional(),
  /** IRC over TLS (port 6697): the OAuth token must not cross the internet in clear text. */
  ssl: bool().default(true),
  /** The bot is a moderator (or VIP/broadcaster) in its channels: Twitch allows 100 msgs / 30 s instead of 20. */
  moderator: bool().default(false),
  /** Override the outgoing budget (shared by all channels on the connection). */
  rateLimit: z.object({ messages: num(z.number().int().min(1)), windowMs: num(z.number().int().min(100)) }).optional(),
  /** Identical messages are not sent again within this window (Twitch rejects them). */
  duplicateWindowMs: num(z.number().int().min(0)).default(30_000),
  /** Summary windows: `!summary` without minutes, and at the stream's end; like every summary window, at most questions.maxSummaryMinutes. */
  summaryMinutes: num(z.number().int().min(1)).default(5),
  summaryOnEnd: bool().default(false),
  summaryOnEndMinutes: num(z.number().int().min(1)).default(10),
  maxQueuedReplies: num(z.number().int().min(1)).default(10),
  /** How long setup waits to connect and join before it counts as failed (and is retried). */
  connectTimeoutMs: num(z.number().int().min(1000)).default(20_000),
}).refine((o) => !o.token || o.username, { message: 'Required when plugins.twitch.token is set', path: ['username'] });
export type TwitchOptions = z.infer<typeof twitchOptions>;

/** `streams[].twitch`: `channel`, one name or a list (without '#', any case); `gets`, `commentaryPerMinute`. */
export const twitchRoute = chatRouteSchema('channel', 'channels', (c) => c.replace(/^#/, '').toLowerCase());
export type TwitchRoute = z.output<typeof twitchRoute>;
