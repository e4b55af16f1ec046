import type { FastifyInstance, RouteHandlerMethod } from 'fastify';
import type { Logger } from 'pino';
import type { Brain } from '../brain.ts';
import type { EventBus } from '../bus.ts';
import type { KibitzEvent } from '../events.ts';
import { QuestionGate } from '../questions/gate.ts';
import { parsePluginConfig } from './plugin_config.ts';
import type { ConfiguredStream, StreamConfigLike } from './chat_routes.ts';
import type { KibitzPlugin, PluginContext, PluginHttp, StreamStatus, Teardown } from './types.ts';

export interface HostOptions {
  /** The validated app config; only `plugins`, `streams` and `questions` (the question policy) are read. */
  config: { plugins?: Record<string, unknown> | null; streams?: readonly StreamConfigLike[]; questions?: unknown };
  bus: EventBus;
  /**
   * The app's question gate (src/questions/gate.ts), the one door HTTP shares: what the plugins'
   * asks and summaries go through. Without it a gate is made here on `brain` with the config's
   * policy (a plugin host outside an app: tests).
   */
  gate?: QuestionGate;
  /** The brain behind a gate made here; undefined: questions get NO_MODEL. */
  brain?: Brain;
  /** The HTTP server, before it listens (routes are added during startPlugins). */
  http?: Pick<FastifyInstance, 'get'>;
  log: Logger;
  /** Defaults to config.streams. */
  streams?: readonly StreamConfigLike[];
  /** The plugins that can be configured; default: the ones found under plugins/ (builtin.ts). */
  catalogue?: readonly KibitzPlugin<any, any>[];
  /** Restart backoff after a failed setup or a death: base doubles up to max. */
  backoff?: { baseMs: number; maxMs: number };
  /** How long startPlugins waits for first setups before returning (they go on in the background). */
  startWaitMs?: number;
}

export interface PluginHost {
  /** Tears every plugin down in reverse order of registration. Idempotent. */
  close(): Promise<void>;
  /** Names of plugins whose setup has completed and that have not died since. */
  running(): string[];
  /** Every running plugin's counters (see PluginContext.counters), for /metrics. */
  counters(): { plugin: string; counter: string; value: number }[];
  gate: QuestionGate;
}

const TEARDOWN_TIMEOUT_MS = 5_000;

/** Validates the plugins' config (parsePluginConfig), then starts each configured plugin isolated from the others. */
export async function startPlugins(opts: HostOptions): Promise<PluginHost> {
  const { streams, questions, plugins } = parsePluginConfig({ ...opts.config, streams: opts.streams ?? opts.config.streams }, opts.catalogue);
  const gate = opts.gate ?? new QuestionGate(opts.brain, questions);

  const status = new StatusTracker(streams);
  const unsubscribeStatus = opts.bus.subscribe((ev) => status.see(ev));
  const http = new PluginPaths(opts.http);
  const runners = plugins.map(({ plugin, options }) =>
    new Runner(plugin, options, { ...opts, streams, gate, status, http, backoff: opts.backoff ?? { baseMs: 1_000, maxMs: 60_000 } }),
  );
  const firsts = runners.map((r) => r.start());
  const wait = opts.startWaitMs ?? 10_000;
  await Promise.race([Promise.allSettled(firsts), new Promise((res) => setTimeout(res, wait).unref())]);

  let closing: Promise<void> | undefined;
  return {
    gate,
    running: () => runners.filter((r) => r.isUp).map((r) => r.plugin.name),
    counters: () => runners.flatMap((r) => r.counters()),
    close: () => {
      closing ??= (async () => {
        unsubscribeStatus();
        for (const r of [...runners].reverse()) await r.stop();
      })();
      return closing;
    },
  };
}

interface RunnerDeps extends Omit<HostOptions, 'http' | 'streams'> {
  streams: ConfiguredStream[];
  gate: QuestionGate;
  status: StatusTracker;
  http: PluginPaths;
  backoff: { baseMs: number; maxMs: number };
}

/** One plugin's life: setup, teardown, and restart with backoff after a failure or a death. */
class Runner {
  isUp = false;
  private attempt = 0;
  private stopped = false;
  private current:
    | { ac: AbortController; unsubs: Set<() => void>; teardown?: Teardown; dead: boolean; counters?: () => Record<string, number> }
    | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(readonly plugin: KibitzPlugin<any, any>, private readonly options: unknown, private readonly deps: RunnerDeps) {
    this.log = deps.log.child({ plugin: plugin.name });
  }

  counters(): { plugin: string; counter: string; value: number }[] {
    const read = this.isUp ? this.current?.counters : undefined;
    if (!read) return [];
    try {
      return Object.entries(read())
        .filter(([, v]) => typeof v === 'number' && Number.isFinite(v))
        .map(([counter, value]) => ({ plugin: this.plugin.name, counter, value }));
    } catch (err) {
      this.log.error({ err }, 'plugin counters threw');
      return [];
    }
  }

  async start(): Promise<void> {
    if (this.stopped) return;
    const run = { ac: new AbortController(), unsubs: new Set<() => void>(), teardown: undefined as Teardown | undefined, dead: false };
    this.current = run;
    const ctx = this.context(run);
    try {
      run.teardown = await this.plugin.setup(ctx);
      if (run.dead || this.stopped) {
        // Died during setup, or stopped meanwhile: tear down what setup built.
        await this.teardown(run);
        if (run.dead) this.scheduleRetry();
        return;
      }
      this.isUp = true;
      this.attempt = 0;
      this.log.info('plugin started');
    } catch (err) {
      this.log.error({ err }, 'plugin setup failed');
      await this.teardown(run);
      this.scheduleRetry();
    }
  }

  private context(run: NonNullable<Runner['current']>): PluginContext<unknown, unknown> {
    const { deps } = this;
    const name = this.plugin.name;
    return {
      name,
      options: this.options,
      log: this.log,
      // Scoped like the options: a plugin sees its own route of each stream, not the others'.
      streams: deps.streams.map((s) => ({ name: s.name, route: s[name] })),
      signal: run.ac.signal,
      subscribe: (listener, o) => {
        const off = deps.bus.subscribe((ev) => {
          if (run.ac.signal.aborted) return;
          try {
            listener(ev);
          } catch (err) {
            this.log.error({ err, event: ev.id }, 'plugin listener threw');
          }
        }, o);
        run.unsubs.add(off);
        return () => {
          run.unsubs.delete(off);
          off();
        };
      },
      ask: (req, signal) => deps.gate.ask(req, anySignal(run.ac.signal, signal)),
      summary: (req, signal) => deps.gate.summary(req, anySignal(run.ac.signal, signal)),
      help: (stream) => deps.gate.help(stream),
      status: (stream) => deps.status.get(stream),
      limits: deps.gate.policy.limits,
      counters: (read) => {
        run.counters = read;
      },
      http: deps.http.scoped(this.plugin.name, run.ac.signal),
      fail: (err) => {
        if (run.dead || run.ac.signal.aborted || this.current !== run) return;
        run.dead = true;
        this.log.error({ err }, 'plugin died; restarting');
        if (!this.isUp) return; // still in setup: start() sees `dead` and cleans up
        this.isUp = false;
        void this.teardown(run).then(() => this.scheduleRetry());
      },
    };
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const { baseMs, maxMs } = this.deps.backoff;
    const delay = Math.min(maxMs, baseMs * 2 ** this.attempt);
    this.attempt++;
    this.log.warn({ retryInMs: delay, attempt: this.attempt }, 'plugin will be restarted');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.start();
    }, delay);
    this.retryTimer.unref?.();
  }

  private async teardown(run: NonNullable<Runner['current']>): Promise<void> {
    run.ac.abort();
    for (const off of run.unsubs) off();
    run.unsubs.clear();
    const td = run.teardown;
    run.teardown = undefined;
    if (!td) return;
    try {
      await Promise.race([
        Promise.resolve(td()),
        new Promise((_, rej) => setTimeout(() => rej(new Error('teardown timed out')), TEARDOWN_TIMEOUT_MS).unref()),
      ]);
    } catch (err) {
      this.log.error({ err }, 'plugin teardown failed');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.isUp = false;
    if (this.current) await this.teardown(this.current);
  }
}

function anySignal(a: AbortSignal, b?: AbortSignal): AbortSignal {
  return b ? AbortSignal.any([a, b]) : a;
}

/**
 * Plugins' GET paths survive plugin restarts: a path is added to fastify once (fastify refuses routes
 * after listen) and dispatches to whichever plugin instance holds it now; 503 while it is down.
 */
class PluginPaths {
  private readonly handlers = new Map<string, RouteHandlerMethod | undefined>();
  constructor(private readonly server?: Pick<FastifyInstance, 'get'>) {}

  scoped(plugin: string, signal: AbortSignal): PluginHttp {
    return {
      get: (path, handler) => {
        if (!this.server) throw new Error(`plugin ${plugin} needs the HTTP server, but none was given to startPlugins`);
        const handlers = this.handlers;
        if (!handlers.has(path)) {
          this.server.get(path, function (this: FastifyInstance, req, reply) {
            const h = handlers.get(path);
            if (!h) return reply.code(503).send({ error: `${plugin} is restarting` });
            return h.call(this, req, reply);
          });
        }
        handlers.set(path, handler);
        signal.addEventListener('abort', () => {
          if (handlers.get(path) === handler) handlers.set(path, undefined);
        });
      },
    };
  }
}

/** Last known state per stream, from the status events that pass on the bus. */
class StatusTracker {
  private readonly byName = new Map<string, StreamStatus>();
  constructor(streams: readonly { name: string }[]) {
    for (const s of streams) this.byName.set(s.name, { name: s.name, state: 'offline', commentaryCount: 0, answerCount: 0 });
  }
  see(ev: KibitzEvent): void {
    let s = this.byName.get(ev.stream);
    if (!s) {
      if (this.byName.size > 1000) return;
      s = { name: ev.stream, state: 'offline', commentaryCount: 0, answerCount: 0 };
      this.byName.set(ev.stream, s);
    }
    s.lastEventAt = ev.wallTime;
    if (ev.kind === 'status' && ev.status && ['live', 'reconnecting', 'ended'].includes(ev.status)) s.state = ev.status;
    if (ev.kind === 'commentary') s.commentaryCount++;
    if (ev.kind === 'answer') s.answerCount++;
  }
  get(name: string): StreamStatus {
    return { ...(this.byName.get(name) ?? { name, state: 'unknown', commentaryCount: 0, answerCount: 0 }) };
  }
}
