import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Frame } from '../../src/frames.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { startWhipApp, udpSocketCount, type WhipTestApp } from './helpers/app.ts';

/**
 * A real browser publishes its (fake) camera from the page kibitz serves at GET /whip, H.264
 * forced with setCodecPreferences. Frames must reach the session at the model rate, with
 * stream time from RTP; DELETE ends the publish.
 */
const CHROMIUM = '/usr/bin/chromium';
const FPS = 4;
const KEY = 'chromium-key-1';
let t: WhipTestApp;
let browser: Browser;

beforeAll(async () => {
  t = await startWhipApp({ streams: [{ name: 'cam', key: KEY }], config: { model: { fps: FPS } } });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--disable-gpu',
      '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe.skipIf(!existsSync(CHROMIUM))('WHIP from headless Chromium', () => {
  it('publishes the fake camera; frames arrive at the model rate; DELETE ends it', async () => {
    const udpBefore = udpSocketCount();
    const page = await browser.newPage();
    await page.goto(`${t.base}/whip`);
    const resource = await page.evaluate(`window.kibitzWhip.start({ stream: 'cam', key: '${KEY}', width: 640, height: 360, fps: 30 })`);
    expect(String(resource)).toMatch(/\/whip\/sessions\/[0-9a-f]{32}$/);
    await waitFor(async () => (await page.evaluate('window.kibitzWhip.state.status')) === 'connected', 'Chromium connected', 20_000);

    const session = await waitFor(() => t.app.sessions.get('cam'), 'session');
    expect(session.publisher?.protocol).toBe('whip');
    // Consume frames like the model worker would, and watch their rate and stream time.
    const frames: { f: Frame; at: number }[] = [];
    const stop = new AbortController();
    const consuming = (async () => {
      for await (const f of session.frames(stop.signal)) frames.push({ f, at: performance.now() });
    })().catch(() => {});
    await waitFor(() => frames.length >= 2, 'first sampled frames', 20_000);
    const from = frames.length;
    const t0 = performance.now();
    await sleep(4000);
    const window = frames.slice(from);
    const wallS = (performance.now() - t0) / 1000;
    const rate = window.length / wallS;
    expect(rate).toBeGreaterThan(FPS * 0.6);
    expect(rate).toBeLessThan(FPS * 1.5);
    // Sampled frames are spaced 1/fps apart in stream (RTP) time and sized for the model.
    const dts = window.slice(1).map((x, i) => x.f.streamTimeMs - window[i]!.f.streamTimeMs);
    for (const d of dts) expect(d).toBeCloseTo(1000 / FPS, -1);
    expect(window[0]!.f.width * window[0]!.f.height * 3).toBe(window[0]!.f.data.length);
    // The fake camera is not black: real pixels came through.
    expect(window.at(-1)!.f.data.some((b) => b > 40)).toBe(true);
    const info = t.whip.list()[0]!;
    expect(info.audioPackets).toBeGreaterThan(0);
    expect(info.video.keyframes).toBeGreaterThan(0);

    expect(await page.evaluate('window.kibitzWhip.stop()')).toBe(200);
    await waitFor(() => session.state === 'ended', 'session ended after DELETE', 10_000);
    stop.abort();
    await consuming;
    expect(t.whip.openPeers).toBe(0);
    await page.close();
    await waitFor(() => udpSocketCount() <= udpBefore, 'UDP sockets released', 5000);
  });
});
