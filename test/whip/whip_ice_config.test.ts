import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { startWhipApp, type WhipTestApp } from './helpers/app.ts';
import { makeOffer, WeriftWhipPublisher } from './helpers/client.ts';

/** ICE settings from config: the UDP port range and the public address announced behind NAT. */
const MIN = 20000 + Math.floor(Math.random() * 20000);
const RANGE = { min: MIN, max: MIN + 30 };
let t: WhipTestApp;

beforeAll(async () => {
  t = await startWhipApp({ streams: [{ name: 'ice', key: 'ice-key-1' }], whip: { ice: { portRange: RANGE, announcedIp: '203.0.113.7' } } });
});

afterAll(async () => {
  await t?.close();
});

describe('WHIP ICE config', () => {
  it('offers host candidates in the port range plus the announced public address, and still connects', async () => {
    const r = await fetch(`${t.base}/whip/ice`, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ice-key-1' }, body: await makeOffer() });
    expect(r.status).toBe(201);
    const answer = await r.text();
    const cands = answer.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:')).map((l) => l.split(' '));
    expect(cands.length).toBeGreaterThanOrEqual(2);
    for (const c of cands) {
      expect(Number(c[5])).toBeGreaterThanOrEqual(RANGE.min);
      expect(Number(c[5])).toBeLessThanOrEqual(RANGE.max);
    }
    expect(cands.some((c) => c[4] === '203.0.113.7')).toBe(true);
    expect(cands.some((c) => c[4] !== '203.0.113.7')).toBe(true);
    expect((await fetch(new URL(r.headers.get('location')!, t.base), { method: 'DELETE' })).status).toBe(200);

    // A LAN publisher still connects on the private candidate.
    const pub = await WeriftWhipPublisher.start(`${t.base}/whip/ice`, 'ice-key-1');
    await waitFor(() => t.whip.list()[0]?.connected, 'connected on the server side');
    expect(await pub.stop()).toBe(200);
  });

  it('answers 503 when the port range is used up, and frees the port when a publisher ends', async () => {
    const small = await startWhipApp({
      streams: [{ name: 'a', key: 'key-a-1' }, { name: 'b', key: 'key-b-1' }, { name: 'c', key: 'key-c-1' }],
      whip: { ice: { portRange: { min: MIN + 100, max: MIN + 101 } } },
    });
    try {
      const offer = await makeOffer();
      const postTo = (name: string) => fetch(`${small.base}/whip/${name}`, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer key-${name}-1` }, body: offer });
      const a = await postTo('a');
      const b = await postTo('b');
      expect([a.status, b.status]).toEqual([201, 201]);
      const c = await postTo('c');
      expect(c.status).toBe(503);
      expect((await c.json()).message).toMatch(/portRange/);
      expect(small.whip.openPeers).toBe(2);
      expect((await fetch(new URL(a.headers.get('location')!, small.base), { method: 'DELETE' })).status).toBe(200);
      expect((await postTo('c')).status).toBe(201);
    } finally {
      await small.close();
    }
  });
});
