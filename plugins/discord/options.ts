import { z } from 'zod';
import { bool, chatRouteSchema, num } from '../../src/plugins/sdk.ts';

export const discordOptions = z.object({
  /** Bot token. Env: KIBITZ_PLUGINS_DISCORD_TOKEN. */
  token: z.string().min(1),
  /** REST base (the gateway URL is asked from it via GET /gateway/bot): a proxy, or a fake in tests. */
  apiBase: z.url().default('https://discord.com/api'),
  /** `!ask` / `!summary` in channels too; needs the privileged MessageContent intent. */
  messageCommands: bool().default(false),
  /** Post a summary to the stream's channels when it ends. */
  summaryOnEnd: bool().default(true),
  /** Its window; like every summary window, at most questions.maxSummaryMinutes (the question policy). */
  summaryOnEndMinutes: num(z.number().int().min(1)).default(10),
  /** Default window for /summary without minutes (at most questions.maxSummaryMinutes). */
  summaryMinutes: num(z.number().int().min(1)).default(5),
  /** Per-channel budget (Discord allows about 5 messages per 5 s per channel). */
  channelRate: z.object({ messages: num(z.number().int().min(1)), windowMs: num(z.number().int().min(100)) }).default({ messages: 5, windowMs: 5_000 }),
  /** Setup fails (and is retried with backoff) when login + READY take longer than this. */
  connectTimeoutMs: num(z.number().int().min(1000)).default(30_000),
  /** Answers waiting for the channel budget; beyond this the oldest is dropped. */
  maxQueuedReplies: num(z.number().int().min(1)).default(20),
});
export type DiscordOptions = z.infer<typeof discordOptions>;

/** `streams[].discord`: `channelId`, one snowflake or a list, that belongs to the stream; `gets`, `commentaryPerMinute`. */
export const discordRoute = chatRouteSchema('channelId', 'channelIds');
export type DiscordRoute = z.output<typeof discordRoute>;
