import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { h264Fixture, publishFile } from '../helpers/ffmpeg.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { startWhipApp, udpSocketCount, type WhipTestApp } from './helpers/app.ts';
import { makeOffer, WeriftWhipPublisher } from './helpers/client.ts';
import { encodeTestClip } from './helpers/h264.ts';

/**
 * Bad input over real HTTP: every refusal is a clear 4xx, costs no peer connection or UDP
 * socket, and a stream being published meanwhile keeps flowing.
 */
const KEYS = { main: 'main-key-1', other: 'other-key-2', spare: 'spare-key-3', extra: 'extra-key-4' };
let t: WhipTestApp;
let baselineUdp: number;
let h264Offer: string;
let audioOnlyOffer: string;
let vp8Offer: string;

const post = (path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  fetch(t.base + path, { method: 'POST', headers: { 'Content-Type': 'application/sdp', ...headers }, body: typeof body === 'string' ? body : new Uint8Array(body) });
const bearer = (k: string) => ({ Authorization: `Bearer ${k}` });

/** Sends the clip in real time on `pub` until `signal` aborts. */
const aus = encodeTestClip({ seconds: 2, fps: 30, size: '320x240' });
async function feed(pub: WeriftWhipPublisher, signal: AbortSignal): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; !signal.aborted; i++) {
    pub.send(aus[i % aus.length]!, i * 3000);
    await sleep(Math.max(0, t0 + (i + 1) * (1000 / 30) - performance.now()));
  }
}

beforeAll(async () => {
  baselineUdp = udpSocketCount();
  t = await startWhipApp({
    streams: Object.entries(KEYS).map(([name, key]) => ({ name, key })),
    config: { model: { fps: 5 } },
    whip: { maxPublishers: 3, maxOfferBytes: 64 * 1024 },
  });
  [h264Offer, audioOnlyOffer, vp8Offer] = await Promise.all([makeOffer('h264', true), makeOffer('none', true), makeOffer('vp8', false)]);
});

afterAll(async () => {
  await t?.close();
});

describe('WHIP bad input', () => {
  it('refuses a missing or wrong token (401), an unknown stream (404), a wrong content type (415)', async () => {
    let r = await post('/whip/main', h264Offer);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await r.json()).error).toBe('UNAUTHORIZED');
    r = await post('/whip/main', h264Offer, bearer(KEYS.other));
    expect(r.status).toBe(401);
    expect((await r.json()).message).toMatch(/stream key/);
    r = await post('/whip/nosuchstream', h264Offer, bearer(KEYS.main));
    expect(r.status).toBe(404);
    expect((await r.json()).error).toBe('UNKNOWN_STREAM');
    r = await fetch(`${t.base}/whip/main`, { method: 'POST', headers: { 'Content-Type': 'text/plain', ...bearer(KEYS.main) }, body: h264Offer });
    expect(r.status).toBe(415);
    expect(t.whip.openPeers).toBe(0);
    const metrics = await (await fetch(`${t.base}/metrics`)).text();
    expect(metrics).toMatch(/kibitz_publishes_refused_total\{reason="unknown-key",protocol="whip"\} 3/);
  });

  it('refuses malformed SDP, SDP without video and a VP8-only offer (400), a 1 MB body (413)', async () => {
    const cases: [string | Buffer, number, string, RegExp][] = [
      ['hello, I am not SDP', 400, 'MALFORMED_SDP', /v=0/],
      ['v=0\r\nm=video banana\r\n', 400, 'MALFORMED_SDP', /m-line/],
      [audioOnlyOffer, 400, 'NO_VIDEO', /video/],
      [vp8Offer, 400, 'UNSUPPORTED_CODEC', /H\.264.*VP8/],
      [Buffer.alloc(1024 * 1024, 'a'), 413, 'BODY_TOO_LARGE', /larger than/],
    ];
    for (const [body, status, code, msg] of cases) {
      const r = await post('/whip/main', body, bearer(KEYS.main));
      expect(r.status, code).toBe(status);
      const j = await r.json();
      expect(j.error).toBe(code);
      expect(j.message).toMatch(msg);
    }
    expect(t.whip.openPeers).toBe(0);
    expect(t.app.sessions.get('main')).toBeUndefined(); // no session was started by any of them
  });

  it('answers CORS preflights, refuses PATCH (405) and DELETE of an unknown resource (404)', async () => {
    let r = await fetch(`${t.base}/whip/main`, { method: 'OPTIONS', headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' } });
    expect(r.status).toBe(204);
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    expect(r.headers.get('access-control-allow-methods')).toContain('POST');
    expect(r.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(r.headers.get('accept-post')).toBe('application/sdp');
    r = await fetch(`${t.base}/whip/sessions/0123456789abcdef0123456789abcdef`, { method: 'DELETE' });
    expect(r.status).toBe(404);
    expect((await r.json()).error).toBe('UNKNOWN_RESOURCE');
    r = await fetch(`${t.base}/whip/sessions/nope`, { method: 'OPTIONS' });
    expect(r.headers.get('access-control-allow-methods')).toContain('DELETE');
  });

  it('publishes, refuses a second publisher (409, also against RTMP), survives a flood, and leaks nothing', async () => {
    // A live stream that must stay unaffected by everything below.
    const other = await WeriftWhipPublisher.start(`${t.base}/whip/other`, KEYS.other);
    const stopFeed = new AbortController();
    const feeding = feed(other, stopFeed.signal);
    await waitFor(() => (t.app.sessions.get('other')?.counters.framesSampled ?? 0) > 2, 'frames on "other"', 20_000);
    const otherSession = t.app.sessions.get('other')!;
    expect(otherSession.publisher).toMatchObject({ protocol: 'whip' });

    // The URL may carry the key instead of the name.
    const mainPub = await WeriftWhipPublisher.start(`${t.base}/whip/${KEYS.main}`, KEYS.main);
    const mainFeeding = feed(mainPub, stopFeed.signal); // silent publishers are dropped after disconnectTimeoutMs
    expect(mainPub.resource).toMatch(/\/whip\/sessions\/[0-9a-f]{32}$/);
    let r = await post('/whip/main', h264Offer, bearer(KEYS.main));
    expect(r.status).toBe(409);
    expect((await r.json()).error).toBe('ALREADY_PUBLISHING');

    // RTMP already live on "spare": WHIP is refused with 409, not mixed in.
    const rtmp = publishFile(`rtmp://127.0.0.1:${t.app.rtmp.port}/live/${KEYS.spare}`, h264Fixture(6), { loop: true });
    await waitFor(() => t.app.sessions.get('spare')?.publisher, 'RTMP publisher on "spare"', 20_000);
    r = await post('/whip/spare', h264Offer, bearer(KEYS.spare));
    expect(r.status).toBe(409);
    await rtmp.stop();

    // A flood: 60 POSTs at once, every kind of bad plus valid offers for a busy stream.
    const framesBefore = otherSession.counters.framesSampled;
    const bodies: [string, string, Record<string, string>][] = [];
    for (let i = 0; i < 12; i++) {
      bodies.push(['/whip/main', h264Offer, bearer(KEYS.main)]);
      bodies.push(['/whip/main', 'garbage', bearer(KEYS.main)]);
      bodies.push(['/whip/main', vp8Offer, bearer(KEYS.main)]);
      bodies.push(['/whip/main', h264Offer, bearer('wrong')]);
      bodies.push([`/whip/x${i}`, h264Offer, bearer(KEYS.main)]);
    }
    const statuses = await Promise.all(bodies.map(([p, b, h]) => post(p, b, h).then(async (res) => {
      await res.arrayBuffer();
      return res.status;
    })));
    expect(statuses.filter((s) => s < 400 || s >= 500)).toEqual([]);
    expect(new Set(statuses)).toEqual(new Set([409, 400, 401, 404]));
    expect(t.whip.openPeers).toBe(2);

    // The other stream kept flowing through it all.
    await waitFor(() => otherSession.counters.framesSampled >= framesBefore + 5, 'frames on "other" after the flood', 15_000);
    expect(otherSession.state).toBe('live');

    // Capacity: maxPublishers 3 -> the 4th peer connection is refused with 503.
    const spare = await WeriftWhipPublisher.start(`${t.base}/whip/spare`, KEYS.spare).catch((e: Error) => e);
    expect(spare).toBeInstanceOf(WeriftWhipPublisher);
    const spareFeeding = feed(spare as WeriftWhipPublisher, stopFeed.signal);
    expect(t.whip.openPeers).toBe(3);
    const extra = await post('/whip/extra', h264Offer, bearer(KEYS.extra));
    expect(extra.status).toBe(503);
    expect(extra.headers.get('retry-after')).toBeTruthy();
    expect((await extra.json()).error).toBe('TOO_MANY_PUBLISHERS');

    // DELETE ends each; a second DELETE is 404.
    expect(t.app.sessions.get('main')?.state).toBe('live');
    stopFeed.abort();
    await Promise.all([feeding, mainFeeding, spareFeeding]);
    expect(await mainPub.stop()).toBe(200);
    expect(await (spare as WeriftWhipPublisher).stop()).toBe(200);
    r = await fetch(mainPub.resource!, { method: 'DELETE' });
    expect(r.status).toBe(404);
    expect(await other.stop()).toBe(200);
    await waitFor(() => t.whip.openPeers === 0, 'all peers closed');
    await waitFor(() => udpSocketCount() === baselineUdp, `UDP sockets back to ${baselineUdp} (now ${udpSocketCount()})`, 5000);
    expect(t.app.sessions.get('main')?.state).toBe('ended');
  });
});
