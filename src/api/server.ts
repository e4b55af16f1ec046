import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import { BRAIN_ERROR_HTTP } from '../brain.ts';
import type { EventBus } from '../bus.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { GateError, type GateErrorCode, type QuestionGate } from '../questions/gate.ts';
import type { StreamSessions } from '../stream/sessions.ts';
import type { Timeline } from '../timeline/timeline.ts';
import { SseHub } from './sse.ts';

export interface ApiDeps {
  sessions: StreamSessions;
  timeline: Timeline;
  metrics: Metrics;
  bus: EventBus;
  log: Logger;
  /** The one question gate (the chats share it): policy, cooldown, per-stream bound, then the model host's brain. */
  questions: QuestionGate;
  /** SSE heartbeat interval; default 15 s. */
  sseHeartbeatMs?: number;
  /** Extra /healthz fields (ffmpeg version, model). */
  health?: () => Record<string, unknown>;
  /** Extra per-stream fields from the model side (model counters, owning worker, lag). */
  streamInfo?: (name: string) => Record<string, unknown> | undefined;
}

/** The gate's refusals as HTTP statuses: the Brain's, plus a cooldown (429) and a request cut short by shutdown (503). */
const GATE_ERROR_HTTP: Record<GateErrorCode, number> = { ...BRAIN_ERROR_HTTP, COOLDOWN: 429, ABORTED: 503, INTERNAL: 500 };

/** Error bodies are `{ error: CODE, message }`; messages say what to do next. */
function fail(reply: FastifyReply, status: number, error: string, message: string) {
  return reply.code(status).send({ error, message });
}

export function createHttpServer(deps: ApiDeps): FastifyInstance {
  const { sessions, timeline, metrics, bus } = deps;
  // Request lines only at debug: the API is polled (overlay, SSE reconnects) and would flood the log.
  const httpLog = deps.log.child({ component: 'http' }, { level: deps.log.isLevelEnabled('debug') ? deps.log.level : 'warn' });
  const app = Fastify({ loggerInstance: httpLog as FastifyBaseLogger, forceCloseConnections: true, bodyLimit: 64 * 1024 });
  const sse = new SseHub(bus, deps.sseHeartbeatMs ?? 15_000);
  app.addHook('preClose', async () => sse.closeAll());
  const startedAt = Date.now();

  const knownStream = (name: string) => sessions.isConfigured(name) || sessions.get(name) !== undefined;
  const unknown = (reply: FastifyReply, name: string) => fail(reply, 404, 'UNKNOWN_STREAM', `no stream named "${name}" (configured: ${sessions.streamNames.join(', ') || 'none'})`);

  app.get('/healthz', async () => ({ ok: true, uptimeS: Math.round((Date.now() - startedAt) / 1000), streams: sessions.list().filter((s) => s.state !== 'ended').length, ...deps.health?.() }));

  app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()));

  const withInfo = (s: ReturnType<StreamSessions['list']>[number]) => ({ ...s.toJSON(), ...deps.streamInfo?.(s.name) });
  app.get('/api/streams', async () => ({ streams: sessions.list().map(withInfo), configured: sessions.streamNames }));

  app.get<{ Params: { name: string } }>('/api/streams/:name', async (req, reply) => {
    const s = sessions.get(req.params.name);
    if (!s) return knownStream(req.params.name) ? fail(reply, 404, 'NOT_LIVE', `stream "${req.params.name}" has not been published since kibitz started`) : unknown(reply, req.params.name);
    return withInfo(s);
  });

  app.get<{ Params: { name: string } }>('/api/streams/:name/events', (req, reply) => {
    if (!knownStream(req.params.name)) return unknown(reply, req.params.name);
    sse.handle(req.params.name, req, reply);
  });

  app.get<{ Params: { name: string }; Querystring: { since?: string; limit?: string } }>('/api/streams/:name/timeline', async (req, reply) => {
    const { name } = req.params;
    if (!knownStream(name)) return unknown(reply, name);
    const since = req.query.since === undefined ? undefined : Number(req.query.since);
    const limit = req.query.limit === undefined ? undefined : Number(req.query.limit);
    if (since !== undefined && !Number.isFinite(since)) return fail(reply, 400, 'BAD_REQUEST', 'since must be a number of milliseconds of stream time');
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0 && limit <= 10_000)) return fail(reply, 400, 'BAD_REQUEST', 'limit must be an integer from 1 to 10000');
    return { stream: name, events: await timeline.read(name, { sinceMs: since, limit }) };
  });

  app.post<{ Params: { name: string }; Body: unknown }>('/api/streams/:name/ask', async (req, reply) => {
    const { name } = req.params;
    if (!knownStream(name)) return unknown(reply, name);
    const body = (req.body ?? {}) as { question?: unknown; user?: unknown };
    if (typeof body.question !== 'string') return fail(reply, 400, 'BAD_REQUEST', 'send JSON {"question": "...", "user": "..."} with a non-empty question');
    if (body.user !== undefined && typeof body.user !== 'string') return fail(reply, 400, 'BAD_REQUEST', 'user must be a string');
    const ac = abortOnClose(req.raw);
    try {
      // An anonymous caller's cooldown is its address's; a named one's is its name's, as in chat.
      const r = await deps.questions.ask({ stream: name, question: body.question, user: body.user ?? '', source: 'http', cooldownId: body.user === undefined ? `http@${req.ip}` : undefined }, ac.signal);
      return { answer: r.answer, t: r.t, event: r.event };
    } catch (err) {
      return gateError(reply, err);
    }
  });

  app.get<{ Params: { name: string }; Querystring: { minutes?: string } }>('/api/streams/:name/summary', async (req, reply) => {
    const { name } = req.params;
    if (!knownStream(name)) return unknown(reply, name);
    const minutes = req.query.minutes === undefined ? 5 : Number(req.query.minutes);
    const ac = abortOnClose(req.raw);
    try {
      const r = await deps.questions.summary({ stream: name, minutes, user: '', source: 'http', cooldownId: `http@${req.ip}` }, ac.signal);
      return { summary: r.summary, from: r.from, to: r.to };
    } catch (err) {
      return gateError(reply, err);
    }
  });

  function gateError(reply: FastifyReply, err: unknown) {
    if (err instanceof GateError) {
      if (err.code === 'INTERNAL') deps.log.error({ err: err.cause }, 'brain request failed');
      if (err.retryAfterMs !== undefined) reply.header('retry-after', String(Math.ceil(err.retryAfterMs / 1000)));
      return fail(reply, GATE_ERROR_HTTP[err.code] ?? 500, err.code, err.message);
    }
    deps.log.error({ err }, 'brain request failed');
    return fail(reply, 500, 'INTERNAL', 'the model failed to answer; see the kibitz log');
  }

  return app;
}

/** Aborts when the client goes away, so the model can drop the work. */
function abortOnClose(raw: import('node:http').IncomingMessage): AbortController {
  const ac = new AbortController();
  raw.once('close', () => {
    if (!raw.complete) ac.abort();
  });
  return ac;
}
