import { z } from 'zod';
import type { EventKind } from '../events.ts';

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

/** Where a stream's events go on one chat platform: which kinds, and how much commentary. */
export interface ChatRoute {
  gets: ReadonlySet<EventKind>;
  commentaryPerMinute: number;
}

/**
 * A chat platform's route, as written under each stream in the config under the plugin's name:
 *
 * ```yaml
 * streams:
 *   - name: main
 *     key: "..."
 *     discord: { channelId: "123", gets: [commentary, answer, summary], commentaryPerMinute: 4 }
 *     twitch:  { channel: mychannel }
 * ```
 * One or many targets under `targetKey` (normalised, as a list under `listKey`); `gets` says
 * which event kinds they receive (answers to questions asked on the same platform are always
 * replied in place). The plugin hands it to definePlugin as `route`; every chat shares the rest.
 */
export function chatRouteSchema<L extends string>(targetKey: string, listKey: L, normalise: (target: string) => string = (t) => t) {
  const shape: Record<string, z.ZodType> = { [targetKey]: oneOrMany, gets, commentaryPerMinute };
  return z.object(shape).transform((r) => {
    const targets = r[targetKey] as string | string[];
    return {
      [listKey]: (Array.isArray(targets) ? targets : [targets]).map(normalise),
      gets: new Set(r.gets as EventKind[]),
      commentaryPerMinute: r.commentaryPerMinute as number,
    } as ChatRoute & { [P in L]: string[] };
  });
}

/** A stream as the host holds it: its name and, per plugin that declares a route, that plugin's route. */
export interface ConfiguredStream {
  name: string;
  [plugin: string]: unknown;
}

/** What the host accepts: the config's streams (keys no plugin declares a route for, such as `key`, are ignored). */
export interface StreamConfigLike {
  name: string;
  [key: string]: unknown;
}

/**
 * Validates and normalises every stream's routes (`streams[i].<plugin>`) with the route schema of
 * each plugin that declares one, configured or not; throws with the config path on the first problem.
 */
export function toPluginStreams(
  streams: readonly StreamConfigLike[],
  routes: readonly { name: string; route?: z.ZodType<unknown> }[],
  fail: (key: string, problem: string) => never,
): ConfiguredStream[] {
  return streams.map((s, i) => {
    const out: ConfiguredStream = { name: s.name };
    for (const { name, route } of routes) {
      if (!route || s[name] === undefined) continue;
      const r = route.safeParse(s[name]);
      if (!r.success) fail(`streams[${i}].${name}.${r.error.issues[0]!.path.join('.')}`.replace(/\.$/, ''), r.error.issues[0]!.message);
      else out[name] = r.data;
    }
    return out;
  });
}
