import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from '../../log.ts';
import { parseWhipConfig, type WhipConfig } from '../../config/whip.ts';
import { refusedReason, WhipError } from './errors.ts';
import { PUBLISH_PAGE } from './page.ts';
import { WhipIngest, type WhipPublishTarget, type WhipStreamConfig } from './ingest.ts';

export const WHIP_RESOURCE_PREFIX = '/whip/sessions/';

export interface RegisterWhipOptions {
  /** The kibitz config: `streams` and the `whip:` slice (validated here when the main schema does not yet). */
  config: { streams: readonly WhipStreamConfig[]; whip?: unknown };
  /** The stream sessions. */
  sessions: WhipPublishTarget;
  log: Logger;
  /** Refused publishes are counted in kibitz_publishes_refused_total{protocol="whip"} when given. */
  metrics?: { refused: { inc(labels: { reason: string; protocol: string }): void } };
}

/**
 * WHIP (RFC 9725) on the kibitz HTTP server:
 *   POST   /whip/:streamKey        application/sdp offer, Authorization: Bearer <stream key>
 *                                  -> 201, Location: /whip/sessions/<id>, ETag, SDP answer
 *   DELETE /whip/sessions/:id      -> 200, the publish ends
 *   PATCH  /whip/sessions/:id      -> 405 (no trickle ICE / ICE restart: the answer has all candidates)
 *   OPTIONS on both                -> 204 with CORS headers (browser publishers)
 *   GET    /whip                   a page that publishes a camera or screen from a browser
 * Errors are JSON `{ "error": CODE, "message": "what to do" }`.
 *
 * Returns the ingest; close it (before the stream sessions) on shutdown — registerWhip also adds an
 * onClose hook that does.
 */
export function registerWhip(http: FastifyInstance, opts: RegisterWhipOptions): WhipIngest {
  const config: WhipConfig = parseWhipConfig(opts.config.whip);
  const log = opts.log.child({ component: 'whip' });
  const ingest = new WhipIngest({ config, streams: opts.config.streams, sessions: opts.sessions, log });
  if (!config.enabled) return ingest;

  const cors = (reply: FastifyReply) =>
    reply
      .header('Access-Control-Allow-Origin', config.corsOrigin)
      .header('Access-Control-Expose-Headers', 'Location, ETag, Link, Accept-Post, Accept-Patch')
      .header('Vary', 'Origin');
  const fail = (reply: FastifyReply, err: WhipError) => {
    cors(reply).code(err.status).header('Content-Type', 'application/json; charset=utf-8');
    if (err.code === 'UNAUTHORIZED') reply.header('WWW-Authenticate', 'Bearer realm="kibitz WHIP"');
    if (err.code === 'TOO_MANY_PUBLISHERS' || err.code === 'SHUTTING_DOWN') reply.header('Retry-After', '5');
    if (err.code === 'NOT_SUPPORTED') reply.header('Allow', 'DELETE, OPTIONS');
    return reply.send({ error: err.code, message: err.message });
  };

  http.addHook('onClose', async () => {
    await ingest.close();
  });

  void http.register(async (app) => {
    // The SDP body parser lives in this scope only; the rest of the API keeps JSON.
    app.addContentTypeParser('application/sdp', { parseAs: 'string', bodyLimit: config.maxOfferBytes }, (_req, body, done) => done(null, body));
    app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, _req, reply) => {
      if (err instanceof WhipError) return fail(reply, err);
      if (err.statusCode === 413 || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        return fail(reply, new WhipError('BODY_TOO_LARGE', `the SDP offer is larger than ${config.maxOfferBytes} bytes (whip.maxOfferBytes)`));
      }
      if (err.statusCode === 415 || err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
        return fail(reply, new WhipError('UNSUPPORTED_MEDIA_TYPE', 'send the offer as Content-Type: application/sdp'));
      }
      if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
        return cors(reply).code(err.statusCode).send({ error: err.code ?? 'BAD_REQUEST', message: err.message });
      }
      log.error({ err }, 'WHIP request failed');
      return cors(reply).code(500).send({ error: 'INTERNAL', message: 'internal error; see the kibitz log' });
    });

    const preflight = (methods: string) => async (_req: unknown, reply: FastifyReply) => {
      cors(reply)
        .header('Access-Control-Allow-Methods', methods)
        .header('Access-Control-Allow-Headers', 'Authorization, Content-Type, If-Match')
        .header('Access-Control-Max-Age', '600');
      return reply.code(204).send();
    };
    app.get('/whip', async (_req, reply) => reply.header('Content-Type', 'text/html; charset=utf-8').header('Cache-Control', 'no-store').send(PUBLISH_PAGE));

    app.options('/whip/:streamKey', async (req, reply) => {
      reply.header('Accept-Post', 'application/sdp');
      return preflight('POST, OPTIONS')(req, reply);
    });
    app.options(`${WHIP_RESOURCE_PREFIX}:id`, preflight('DELETE, PATCH, OPTIONS'));

    app.post<{ Params: { streamKey: string } }>('/whip/:streamKey', { bodyLimit: config.maxOfferBytes }, async (req, reply) => {
      const ct = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (ct !== 'application/sdp') throw new WhipError('UNSUPPORTED_MEDIA_TYPE', 'send the offer as Content-Type: application/sdp');
      if (typeof req.body !== 'string' || req.body.length === 0) throw new WhipError('MALFORMED_SDP', 'the body must be an SDP offer');
      let r;
      try {
        r = await ingest.publish({ target: req.params.streamKey, authorization: req.headers.authorization, offer: req.body, ip: req.ip });
      } catch (err) {
        if (err instanceof WhipError && !err.countedByRegistry) opts.metrics?.refused.inc({ reason: refusedReason(err.code), protocol: 'whip' });
        throw err;
      }
      return cors(reply)
        .code(201)
        .header('Content-Type', 'application/sdp')
        .header('Location', `${WHIP_RESOURCE_PREFIX}${r.id}`)
        .header('ETag', `"${r.id.slice(0, 16)}"`)
        .send(r.answer);
    });

    app.delete<{ Params: { id: string } }>(`${WHIP_RESOURCE_PREFIX}:id`, async (req, reply) => {
      if (!(await ingest.remove(req.params.id))) throw new WhipError('UNKNOWN_RESOURCE', 'no such WHIP session (already ended?)');
      return cors(reply).code(200).send();
    });

    app.patch<{ Params: { id: string } }>(`${WHIP_RESOURCE_PREFIX}:id`, async (req) => {
      if (!ingest.info(req.params.id)) throw new WhipError('UNKNOWN_RESOURCE', 'no such WHIP session (already ended?)');
      throw new WhipError('NOT_SUPPORTED', 'trickle ICE and ICE restarts are not supported: the answer carries every candidate; publish again instead');
    });
  });
  return ingest;
}


