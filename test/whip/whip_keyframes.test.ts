import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, waitFor } from '../helpers/wait.ts';
import { startWhipApp, type WhipTestApp } from './helpers/app.ts';
import { WeriftWhipPublisher } from './helpers/client.ts';
import { encodeTestClip } from './helpers/h264.ts';

/**
 * Keyframes: a publisher joined mid-GOP gets PLIs, but kibitz does not depend on them (this
 * publisher ignores them, as OBS may): decoding starts at the next periodic keyframe. A
 * decoder that dies is restarted and resumes at a keyframe, the publisher staying connected.
 */
const FPS = 30;
const GOP = 60;
let t: WhipTestApp;
const aus = encodeTestClip({ seconds: 4, fps: FPS, size: '320x240', gop: GOP });

/** Sends `aus` from `start` in a loop, in real time, until aborted. RTP time runs on without a jump. */
async function feed(pub: WeriftWhipPublisher, start: number, signal: AbortSignal): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; !signal.aborted; i++) {
    pub.send(aus[(start + i) % aus.length]!, (start + i) * 3000);
    await sleep(Math.max(0, t0 + ((i + 1) * 1000) / FPS - performance.now()));
  }
}

beforeAll(async () => {
  t = await startWhipApp({ streams: [{ name: 'kf', key: 'kf-key-1' }], config: { model: { fps: 5 } }, whip: { pliIntervalMs: 300 } });
});

afterAll(async () => {
  await t?.close();
});

describe('WHIP keyframes', () => {
  it('waits for a keyframe, asks for one, and starts at the next periodic one when PLI is ignored', async () => {
    const pub = await WeriftWhipPublisher.start(`${t.base}/whip/kf`, 'kf-key-1');
    const stop = new AbortController();
    const startedAt = performance.now();
    const feeding = feed(pub, 10, stop.signal); // 10 frames into a 60-frame GOP: 50 frames (1.7 s) to the next IDR
    const session = await waitFor(() => t.app.sessions.get('kf'), 'session');
    await waitFor(() => session.counters.framesSampled > 0, 'first sampled frame', 20_000);
    const firstFrameAfterMs = performance.now() - startedAt;
    const info = t.whip.list()[0]!;
    expect(info.video.droppedBeforeKeyframe).toBeGreaterThanOrEqual(40);
    expect(info.pliSent).toBeGreaterThan(0);
    expect(pub.keyframeRequests).toBeGreaterThan(0); // PLIs reached the publisher
    expect(firstFrameAfterMs).toBeGreaterThan(1200); // started at the periodic IDR, not at a PLI
    stop.abort();
    await feeding;
    expect(await pub.stop()).toBe(200);
    await waitFor(() => t.whip.openPeers === 0, 'peer closed');
  });

  it('restarts a dead decoder at the next keyframe while the publisher stays connected', async () => {
    const pub = await WeriftWhipPublisher.start(`${t.base}/whip/kf`, 'kf-key-1');
    const stop = new AbortController();
    const feeding = feed(pub, 0, stop.signal);
    await waitFor(() => (t.app.sessions.get('kf')?.state === 'live' && t.app.sessions.get('kf')!.counters.framesSampled > 3), 'frames', 20_000);
    const session = t.app.sessions.get('kf')!;
    const resource = t.whip.list()[0]!;
    // The decoder is the ffmpeg child reading our stdin stream; kill it like the OOM killer would.
    const pid = (t.whip as unknown as { resources: Map<string, { handle?: { decoderPid?: number } }> }).resources.get(resource.id)!.handle!.decoderPid!;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    await waitFor(() => session.counters.decodeErrors === 1, 'decoder death noticed', 10_000);
    const before = session.counters.framesSampled;
    await waitFor(() => session.counters.framesSampled >= before + 5, 'frames again after the restart', 20_000);
    expect(session.state).toBe('live');
    expect(t.whip.list()[0]!.id).toBe(resource.id); // same publisher, no renegotiation
    stop.abort();
    await feeding;
    expect(await pub.stop()).toBe(200);
  });
});
