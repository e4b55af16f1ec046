import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrainError, type Brain } from '../../src/brain.ts';
import type { KibitzEvent } from '../../src/events.ts';
import type { HostParts } from '../../src/model_host/port.ts';
import { brainHost, startTestApp, testKey, type TestApp } from '../helpers/app.ts';
import { waitFor } from '../helpers/wait.ts';

/** HTTP API without publishing: fastify inject for plain routes, a real socket for SSE. */
describe('HTTP API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ streams: [{ name: 'main', key: testKey() }], app: { sseHeartbeatMs: 100 } });
  });
  afterAll(async () => t?.close());

  it('/healthz, /metrics, /api/streams', async () => {
    const h = await t.app.http.inject('/healthz');
    expect(h.statusCode).toBe(200);
    expect(h.json()).toMatchObject({ ok: true, ffmpeg: expect.stringContaining('ffmpeg version') });
    const m = await t.app.http.inject('/metrics');
    expect(m.headers['content-type']).toMatch(/text\/plain/);
    expect(m.body).toContain('kibitz_streams_live');
    const s = await t.app.http.inject('/api/streams');
    expect(s.json()).toEqual({ streams: [], configured: ['main'] });
  });

  it('unknown streams are 404 with a message naming the configured ones', async () => {
    for (const url of ['/api/streams/nope/timeline', '/api/streams/nope/events', '/api/streams/nope/summary']) {
      const r = await t.app.http.inject(url);
      expect(r.statusCode).toBe(404);
      expect(r.json()).toMatchObject({ error: 'UNKNOWN_STREAM', message: expect.stringContaining('main') });
    }
  });

  it('ask and summary without a model: 503 with a clear message; bad input: 400', async () => {
    const a = await t.app.http.inject({ method: 'POST', url: '/api/streams/main/ask', payload: { question: 'what happened?' } });
    expect(a.statusCode).toBe(503);
    expect(a.json()).toMatchObject({ error: 'NO_MODEL', message: expect.stringContaining('model.package') });
    expect((await t.app.http.inject('/api/streams/main/summary?minutes=5')).statusCode).toBe(503);
    expect((await t.app.http.inject({ method: 'POST', url: '/api/streams/main/ask', payload: { question: '  ' } })).statusCode).toBe(400);
    expect((await t.app.http.inject('/api/streams/main/summary?minutes=-1')).statusCode).toBe(400);
    expect((await t.app.http.inject('/api/streams/main/timeline?since=abc')).statusCode).toBe(400);
  });

  it('ask and summary go to the model host\'s Brain; BrainError codes map to HTTP statuses', async () => {
    const calls: unknown[] = [];
    const brain = (bus: HostParts['bus']): Brain => ({
      async ask(req) {
        calls.push(req);
        if (req.question === 'busy?') throw new BrainError('BUSY', 'too many questions');
        if (req.question === 'crash?') throw new TypeError('secret internals: cannot read properties of undefined');
        const event = bus.publish({ stream: req.stream, kind: 'answer', text: 'a goal', question: req.question, user: req.user, source: req.source, streamTimeMs: 1234 });
        return { answer: 'a goal', t: 1234, event };
      },
      async summary(stream, minutes) {
        return { summary: `${stream}: quiet`, from: 0, to: minutes * 60_000 };
      },
    });
    const withModel = await startTestApp({ streams: [{ name: 'main', key: testKey() }], app: { modelHost: brainHost((parts) => brain(parts.bus)) } });
    try {
      const t = withModel;
      const a = await t.app.http.inject({ method: 'POST', url: '/api/streams/main/ask', payload: { question: 'what happened?', user: 'alice' } });
      expect(a.statusCode).toBe(200);
      expect(a.json()).toMatchObject({ answer: 'a goal', t: 1234 });
      expect(calls[0]).toMatchObject({ stream: 'main', question: 'what happened?', user: 'alice', source: 'http' });
      expect((await t.app.http.inject({ method: 'POST', url: '/api/streams/main/ask', payload: { question: 'busy?' } })).statusCode).toBe(429);
      // An unexpected failure is a 500 that says where to look, not the failure's own text.
      const crash = await t.app.http.inject({ method: 'POST', url: '/api/streams/main/ask', payload: { question: 'crash?', user: 'bob' } });
      expect(crash.statusCode).toBe(500);
      expect(crash.json()).toEqual({ error: 'INTERNAL', message: 'the model failed to answer; see the kibitz log' });
      const s = await t.app.http.inject('/api/streams/main/summary?minutes=2');
      expect(s.json()).toEqual({ summary: 'main: quiet', from: 0, to: 120_000 });
      // The question policy refuses before the Brain is asked (plugins.questions.maxSummaryMinutes, 60 by default).
      const bad = await t.app.http.inject('/api/streams/main/summary?minutes=90');
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toEqual({ error: 'BAD_REQUEST', message: 'minutes must be between 1 and 60' });
      // The answer event was persisted.
      const tl = (await t.app.http.inject('/api/streams/main/timeline')).json() as { events: KibitzEvent[] };
      expect(tl.events.some((e) => e.kind === 'answer' && e.user === 'alice')).toBe(true);
    } finally {
      await withModel.close();
    }
  });

  it('SSE: events of the stream as data lines, heartbeat comments, listener removed on disconnect', async () => {
    const before = t.app.bus.listenerCount;
    let body = '';
    const req = http.get(`${t.httpBase}/api/streams/main/events`);
    const res = await new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
    expect(res.headers['content-type']).toMatch(/text\/event-stream/);
    res.setEncoding('utf8');
    res.on('data', (d: string) => (body += d));
    await waitFor(() => t.app.bus.listenerCount === before + 1, 'SSE subscription');
    t.app.bus.publish({ stream: 'other', kind: 'status', status: 'live', text: 'not for us', streamTimeMs: 0 });
    const ev = t.app.bus.publish({ stream: 'main', kind: 'commentary', text: 'nice shot', streamTimeMs: 500 });
    await waitFor(() => body.includes('nice shot') && body.includes(': heartbeat'), 'event and heartbeat');
    const data = body.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as KibitzEvent);
    expect(data).toEqual([ev]);
    expect(body).toContain(`id: ${ev.id}`);
    req.destroy();
    await waitFor(() => t.app.bus.listenerCount === before, 'SSE listener removed');
  });

  it('the timeline survives a restart', async () => {
    const key = testKey();
    const first = await startTestApp({ streams: [{ name: 'keep', key }] });
    const dataDir = first.app.config.dataDir;
    first.app.bus.publish({ stream: 'keep', kind: 'commentary', text: 'remember me', streamTimeMs: 42 });
    await first.app.close();
    const second = await startTestApp({ streams: [{ name: 'keep', key }], dataDir });
    try {
      const r = await second.app.http.inject('/api/streams/keep/timeline?since=40');
      expect((r.json() as { events: KibitzEvent[] }).events.map((e) => e.text)).toEqual(['remember me']);
    } finally {
      await second.close();
      await first.close(); // removes the data dir
    }
  });
});
