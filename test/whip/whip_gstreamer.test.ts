import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { startWhipApp, udpSocketCount, type WhipTestApp } from './helpers/app.ts';

/**
 * A non-browser client: GStreamer webrtcbin (python3-gi) publishing H.264 + Opus with
 * bundle-policy max-bundle, so its audio m-line has port 0 + a=bundle-only (which werift
 * would reject without kibitz's rewrite). Then the same client vanishes without DELETE.
 */
const SCRIPT = fileURLToPath(new URL('./gst_whip_publish.py', import.meta.url));
const PY = '/usr/bin/python3';
const hasGst = spawnSync(PY, ['-c', "import gi; gi.require_version('GstWebRTC', '1.0'); from gi.repository import GstWebRTC"]).status === 0;
const FPS = 5;
const KEY = 'gst-key-1';
let t: WhipTestApp;

interface GstRun {
  child: ChildProcess;
  events: Record<string, unknown>[];
  exited: Promise<number | null>;
}

function runGst(url: string, token: string, seconds: number): GstRun {
  const child = spawn(PY, [SCRIPT, url, token, String(seconds), '320x240', '30'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim()) events.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  child.stderr!.on('data', () => {});
  return { child, events, exited: new Promise((r) => child.once('close', (c) => r(c))) };
}

beforeAll(async () => {
  t = await startWhipApp({
    streams: [{ name: 'gst', key: KEY }],
    config: { model: { fps: FPS }, ingest: { graceMs: 1500, restartMinMs: 200, restartMaxMs: 1000, firstFrameTimeoutMs: 15_000 } },
    whip: { disconnectTimeoutMs: 2000 },
  });
});

afterAll(async () => {
  await t?.close();
});

describe.skipIf(!hasGst)('WHIP from GStreamer webrtcbin (max-bundle)', () => {
  it('publishes H.264 + Opus with a bundle-only audio m-line; DELETE ends it', async () => {
    const udpBefore = udpSocketCount();
    const g = runGst(`${t.base}/whip/gst`, KEY, 5);
    const offer = await waitFor(() => g.events.find((e) => e.event === 'offer'), 'offer', 20_000);
    expect(offer.audio_port0).toBe(true);
    expect(offer.bundle_only).toBe(true);
    const posted = await waitFor(() => g.events.find((e) => e.event === 'posted' || e.event === 'error'), 'POST', 20_000);
    expect(posted).toMatchObject({ event: 'posted', status: 201 });
    const session = await waitFor(() => t.app.sessions.get('gst'), 'session');
    await waitFor(() => session.counters.framesSampled >= 10, 'sampled frames from GStreamer', 20_000);
    const info = t.whip.list()[0]!;
    expect(info.audioPackets).toBeGreaterThan(0); // the bundle-only Opus m-line was negotiated
    expect(await g.exited).toBe(0);
    expect(g.events.find((e) => e.event === 'deleted')).toMatchObject({ status: 200 });
    await waitFor(() => session.publisher === null, 'publish ended by DELETE', 5000);
    expect(t.whip.openPeers).toBe(0);
    await waitFor(() => session.state === 'ended', 'session ended after the grace period', 10_000);
    await waitFor(() => udpSocketCount() <= udpBefore, 'UDP sockets released', 5000);
  });

  it('a publisher that vanishes without DELETE ends like an RTMP disconnect (grace, then end)', async () => {
    const g = runGst(`${t.base}/whip/gst`, KEY, 60);
    await waitFor(() => g.events.find((e) => e.event === 'connected'), 'connected', 20_000);
    await waitFor(() => t.app.sessions.get('gst')?.state === 'live', 'live session');
    const session = t.app.sessions.get('gst')!;
    await waitFor(() => session.counters.framesSampled >= 3, 'frames', 20_000);
    g.child.kill('SIGKILL'); // no DELETE, no DTLS close: only silence
    const killedAt = performance.now();
    await waitFor(() => session.state === 'reconnecting', 'reconnecting after the publisher vanished', 15_000);
    const detectedMs = performance.now() - killedAt;
    expect(detectedMs).toBeLessThan(2000 + 3000); // disconnectTimeoutMs + slack on a loaded machine
    expect(t.whip.openPeers).toBe(0);
    await waitFor(() => session.state === 'ended', 'ended after the grace period', 10_000);
    expect(session.endReason).toMatch(/grace/);
  });
});
