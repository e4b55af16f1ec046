import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KibitzEvent } from '../../src/events.ts';
import { startTestApp, testKey, type TestApp } from '../helpers/app.ts';
import { h264Fixture, publishAudioOnly, publishFile, type Publisher } from '../helpers/ffmpeg.ts';
import { malformedConnect, publishUnknownCodec, sendRaw } from '../helpers/rtmp_raw.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

/** One app, one healthy looping publisher ("good") throughout; bad input goes to the same port. */
describe('bad input on the RTMP port', () => {
  let t: TestApp;
  let good: Publisher;
  const goodKey = testKey('good');
  const badKey = testKey('bad');
  const events: KibitzEvent[] = [];
  let goodFrames = 0;

  const goodKeepsReceiving = async () => {
    const n = goodFrames;
    await waitFor(() => goodFrames >= n + 2, 'the good stream to keep receiving frames', 5000);
    expect(t.app.sessions.get('good')?.state).toBe('live');
  };

  beforeAll(async () => {
    t = await startTestApp({ streams: [{ name: 'good', key: goodKey }, { name: 'bad', key: badKey }], config: { ingest: { graceMs: 500, firstFrameTimeoutMs: 6000, restartMinMs: 300 } } });
    t.app.bus.subscribe((ev) => events.push(ev));
    t.app.onSession((s) => {
      if (s.name !== 'good') return;
      void (async () => {
        for await (const _f of s.frames()) goodFrames++;
      })();
    });
    good = publishFile(t.url(goodKey), h264Fixture(6), { loop: true });
    await waitFor(() => goodFrames > 0, 'good stream frames', 8000);
  });
  afterAll(async () => {
    await good?.stop();
    await t?.close();
  });

  it('garbage bytes: connection dropped, other stream unaffected', async () => {
    // An HTTP request, then noise: not an RTMP handshake.
    expect(await sendRaw(t.app.rtmp.port, Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), randomBytes(8192)]))).toBe('closed');
    // Noise that starts like a handshake (version byte 3): the parser gets it; still nobody else notices.
    await sendRaw(t.app.rtmp.port, Buffer.concat([Buffer.from([3]), randomBytes(16384)]), 500);
    await goodKeepsReceiving();
  });

  it('truncated handshake: no harm done', async () => {
    await sendRaw(t.app.rtmp.port, Buffer.concat([Buffer.from([3]), randomBytes(700)]), 500);
    await goodKeepsReceiving();
  });

  it('malformed connect (invalid tcUrl throws inside node-media-server): process survives, connection dropped', async () => {
    await malformedConnect(t.app.rtmp.port);
    const metrics = await (await fetch(`${t.httpBase}/metrics`)).text();
    expect(metrics).toMatch(/kibitz_ingest_protocol_errors_total\{protocol="rtmp"\} [1-9]/);
    await goodKeepsReceiving();
  });

  it('audio-only publish: refused with a clear status event, session ended', async () => {
    const p = publishAudioOnly(t.url(badKey), 6);
    const ev = await waitFor(() => events.find((e) => e.stream === 'bad' && e.status === 'refused'), 'refused event', 8000);
    expect(ev.text).toMatch(/no video/);
    await waitFor(() => t.app.sessions.get('bad')?.state === 'ended', 'bad session ended');
    expect(await Promise.race([p.exited, sleep(3000).then(() => 'still connected')])).not.toBe('still connected');
    await p.stop();
    await goodKeepsReceiving();
  });

  it('a video codec ffmpeg cannot decode: refused with a clear status event', async () => {
    events.length = 0;
    await publishUnknownCodec(t.app.rtmp.port, badKey, 3).catch(() => {});
    const ev = await waitFor(() => events.find((e) => e.stream === 'bad' && e.status === 'refused'), 'refused event', 8000);
    expect(ev.text).toMatch(/cannot decode|no video frames/);
    await waitFor(() => t.app.sessions.get('bad')?.state === 'ended', 'bad session ended');
    await goodKeepsReceiving();
  });

  it('ffmpeg killed mid-stream: restarted with backoff, frames continue on the same timeline', async () => {
    const s = t.app.sessions.get('good')!;
    const pid = t.app.sessions.decoderPid('good')!;
    expect(pid).toBeGreaterThan(0);
    const errorsBefore = s.counters.decodeErrors;
    const timeBefore = s.lastFrameMs;
    process.kill(pid, 'SIGKILL');
    await waitFor(() => s.counters.decodeErrors === errorsBefore + 1, 'decode error counted');
    await waitFor(() => t.app.sessions.decoderPid('good') !== undefined && t.app.sessions.decoderPid('good') !== pid, 'a new decoder');
    await goodKeepsReceiving();
    expect(s.lastFrameMs).toBeGreaterThan(timeBefore);
    expect(events.some((e) => e.stream === 'good' && e.status === 'error' && /restarting/.test(e.text))).toBe(true);
    const metrics = await (await fetch(`${t.httpBase}/metrics`)).text();
    expect(metrics).toMatch(/kibitz_decoder_restarts_total\{stream="good"\} 1/);
  });
});
