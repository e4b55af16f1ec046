import { z } from 'zod';
import type { EventKind } from '../events.ts';

/**
 * Per-stream routing, as written under each stream in the config:
 *
 * ```yaml
 * streams:
 *   - name: main
 *     key: "..."
 *     discord: { channelId: "123", gets: [commentary, answer, summary], commentaryPerMinute: 4 }
 *     twitch:  { channel: mychannel }
 * ```
 * `gets` says which event kinds the channel receives (answers to questions asked on the same
 * platform are always replied in place).
 */
export const EVENT_KINDS = ['commentary', 'answer', 'summary', 'status'] as const satisfies readonly EventKind[];
/**
 * Chats get answers and summaries; proactive commentary only when the stream opts in (add
 * `commentary` to `gets`), and then at most `commentaryPerMinute` lines (the rest are merged).
 * The overlay and webhooks are where commentary goes by default.
 */
const DEFAULT_GETS: EventKind[] = ['answer', 'summary'];
export const DEFAULT_COMMENTARY_PER_MINUTE = 4;

const gets = z.array(z.enum(EVENT_KINDS)).default(DEFAULT_GETS);
const commentaryPerMinute = z.number().int().min(1).max(60).default(DEFAULT_COMMENTARY_PER_MINUTE);
const oneOrMany = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

export const discordRouteSchema = z.object({
  /** Channel id(s) (snowflakes) that belong to this stream. */
  channelId: oneOrMany,
  gets,
  commentaryPerMinute,
});

export const twitchRouteSchema = z.object({
  /** Channel name(s) without '#'. */
  channel: oneOrMany,
  gets,
  commentaryPerMinute,
});

/** A stream as plugins see it: its name and, per platform, where its events go. */
export interface PluginStream {
  name: string;
  discord?: { channelIds: string[]; gets: ReadonlySet<EventKind>; commentaryPerMinute: number };
  twitch?: { channels: string[]; gets: ReadonlySet<EventKind>; commentaryPerMinute: number };
}

/** What the host accepts: the config's streams (extra keys such as `key` are ignored). */
export interface StreamConfigLike {
  name: string;
  discord?: unknown;
  twitch?: unknown;
}

const list = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);

/** Validates and normalises stream routes; throws with the config path on the first problem. */
export function toPluginStreams(streams: readonly StreamConfigLike[], fail: (key: string, problem: string) => never): PluginStream[] {
  return streams.map((s, i) => {
    const out: PluginStream = { name: s.name };
    if (s.discord !== undefined) {
      const r = discordRouteSchema.safeParse(s.discord);
      if (!r.success) fail(`streams[${i}].discord.${r.error.issues[0]!.path.join('.')}`.replace(/\.$/, ''), r.error.issues[0]!.message);
      else out.discord = { channelIds: list(r.data.channelId), gets: new Set(r.data.gets), commentaryPerMinute: r.data.commentaryPerMinute };
    }
    if (s.twitch !== undefined) {
      const r = twitchRouteSchema.safeParse(s.twitch);
      if (!r.success) fail(`streams[${i}].twitch.${r.error.issues[0]!.path.join('.')}`.replace(/\.$/, ''), r.error.issues[0]!.message);
      else out.twitch = { channels: list(r.data.channel).map((c) => c.replace(/^#/, '').toLowerCase()), gets: new Set(r.data.gets), commentaryPerMinute: r.data.commentaryPerMinute };
    }
    return out;
  });
}
