import type { RouteHandlerMethod } from 'fastify';
import type { Logger } from 'pino';
import type { ZodType } from 'zod';
import type { KibitzEvent } from '../events.ts';
import type { QuestionLimits } from '../questions/policy.ts';
import type { Asker, GateAnswer, GateSummary, QuestionRequest } from '../questions/gate.ts';

export type Teardown = () => void | Promise<void>;

/** GET routes a plugin may add to the HTTP server (the overlay page). */
export interface PluginHttp {
  get(path: string, handler: RouteHandlerMethod): void;
}

/** What the host knows about a stream from the events it has seen (for /status). */
export interface StreamStatus {
  name: string;
  state: string;
  lastEventAt?: string;
  commentaryCount: number;
  answerCount: number;
}

/** A stream as a plugin sees it: its name and, for a plugin that declares a `route`, its route there. */
export interface PluginStream<R = undefined> {
  name: string;
  /** `streams[].<plugin name>`, validated by the plugin's `route` schema; absent where the stream has none. */
  route?: R;
}

/** The scoped context a plugin's setup receives. Everything here is torn down with the plugin. */
export interface PluginContext<O, R = undefined> {
  name: string;
  /** This plugin's validated slice of `plugins.<name>`. */
  options: O;
  log: Logger;
  streams: readonly PluginStream<R>[];
  /** Events from the bus; unsubscribed automatically at teardown. */
  subscribe(listener: (ev: KibitzEvent) => void, opts?: { stream?: string }): () => void;
  /** A viewer's question, through the gate (the question policy, dedupe) to the Brain. */
  ask(req: QuestionRequest, signal?: AbortSignal): Promise<GateAnswer>;
  summary(req: { stream: string; minutes: number } & Asker, signal?: AbortSignal): Promise<GateSummary>;
  /** What viewers can ask on a stream, as one line (for a help command); throws a GateError (NO_MODEL) without a model. */
  help(stream: string): string;
  status(stream: string): StreamStatus;
  /** The question policy's limits (question length, summary minutes), e.g. for command definitions. */
  limits: Readonly<QuestionLimits>;
  http: PluginHttp;
  /** Aborted when the plugin is torn down (shutdown or restart). */
  signal: AbortSignal;
  /**
   * Publish this plugin's counters (messages sent/merged/dropped, deliveries failed, ...): read on
   * every /metrics scrape as `kibitz_plugin_counter{plugin,counter}`. They restart from 0 when the
   * plugin restarts. A later call replaces the earlier source.
   */
  counters(read: () => Record<string, number>): void;
  /**
   * Report that the plugin died after setup (lost its connection for good, ...): the host tears
   * it down and sets it up again with backoff. Other plugins are unaffected.
   */
  fail(err: unknown): void;
}

export interface KibitzPlugin<O = unknown, R = undefined> {
  name: string;
  /** Validates `plugins.<name>` (defaults filled in); errors name the key. */
  options: ZodType<O>;
  /**
   * Validates what a stream says about this plugin, `streams[].<name>` (a chat's channels, see
   * chatRouteSchema); checked for every stream before any plugin starts, errors name the key.
   */
  route?: ZodType<R, any>;
  setup(ctx: PluginContext<O, R>): Promise<Teardown> | Teardown;
}

/** Keeps each plugin's option and route types while putting them in one list. */
export function definePlugin<O, R = undefined>(p: KibitzPlugin<O, R>): KibitzPlugin<O, R> {
  return p;
}
