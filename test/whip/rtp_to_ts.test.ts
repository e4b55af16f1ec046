import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { RtpHeader, RtpPacket } from 'werift/nonstandard';
import { AccessUnitAssembler, RtpClock, nalTypes, NAL_IDR } from '../../src/ingest/whip/h264.ts';
import { TsMuxer } from '../../src/ingest/whip/mpegts.ts';
import { VideoPipeline } from '../../src/ingest/whip/pipeline.ts';
import { encodeTestClip, packetize } from './helpers/h264.ts';

const FPS = 30;
const aus = encodeTestClip({ seconds: 2, fps: FPS, gop: 30 });

function ffprobeFrames(ts: Buffer): { pts: number; key: boolean }[] {
  const r = spawnSync('ffprobe', ['-v', 'error', '-f', 'mpegts', '-i', '-', '-select_streams', 'v', '-show_entries', 'frame=pts,key_frame', '-of', 'json'], { input: ts, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(String(r.stderr));
  const j = JSON.parse(String(r.stdout)) as { frames: { pts: number; key_frame: number }[] };
  return j.frames.map((f) => ({ pts: f.pts, key: f.key_frame === 1 }));
}

describe('RTP -> access units', () => {
  it('reassembles every access unit byte for byte', () => {
    const packets = packetize(aus, { fps: FPS });
    const asm = new AccessUnitAssembler();
    const out = packets.flat().flatMap((p) => asm.processInput(p));
    expect(out.length).toBe(aus.length);
    for (let i = 0; i < aus.length; i++) expect(nalTypes(out[i]!.data)).toEqual(nalTypes(aus[i]!));
    expect(out[0]!.keyframe).toBe(true);
    expect(out[0]!.hasParameterSets).toBe(true);
    expect(out.filter((a) => a.keyframe).length).toBe(2);
  });

  it('ends a unit at a timestamp change when its marker packet is lost, and drops it', () => {
    const packets = packetize(aus.slice(0, 5), { fps: FPS });
    const markerOfSecond = packets[1]!.at(-1)!;
    let losses = 0;
    const asm = new AccessUnitAssembler(() => losses++);
    const out = packets.flat().filter((p) => p !== markerOfSecond).flatMap((p) => asm.processInput(p));
    // The second unit lost its tail; the third might have lost its head: both go.
    expect(out.map((a) => a.rtpTimestamp)).toEqual([0, 9000, 12000]);
    expect(asm.stats.broken).toBe(2);
    expect(losses).toBe(1);
  });

  it('unwraps the 32-bit RTP clock', () => {
    const c = new RtpClock();
    expect(c.ticks(0xffff_f000)).toBe(0);
    expect(c.ticks(0x0000_1000)).toBe(0x2000);
    expect(c.ticks(0x0000_0800)).toBe(0x1800); // a late, earlier timestamp stays earlier
  });
});

describe('VideoPipeline -> MPEG-TS', () => {
  it('carries RTP time as PTS across a timestamp wrap, readable by ffmpeg', () => {
    const firstTs = 0xffff_ffff - 20 * 3000; // wraps after 20 frames
    const packets = packetize(aus, { fps: FPS, firstTs });
    const p = new VideoPipeline({ jitterBufferMs: 100 });
    const chunks = packets.flat().flatMap((r) => p.processRtp(r)).concat(p.flush());
    expect(chunks.length).toBe(aus.length);
    expect(chunks.at(-1)!.ptsMs).toBeCloseTo(((aus.length - 1) * 1000) / FPS, 0);
    const frames = ffprobeFrames(Buffer.concat(chunks.map((c) => c.ts)));
    expect(frames.length).toBe(aus.length);
    frames.forEach((f, i) => expect(f.pts).toBe(i * 3000));
    expect(frames[0]!.key).toBe(true);
  });

  it('waits for a keyframe, asks for one, and reorders packets', () => {
    const packets = packetize(aus, { fps: FPS });
    let asks = 0;
    const p = new VideoPipeline({ jitterBufferMs: 100, onNeedKeyframe: () => asks++ });
    // Join mid-GOP (frame 10), with two packets swapped inside a unit.
    const flat = packets.slice(10).flat();
    const i = flat.findIndex((r, k) => k > 3 && flat[k + 1] && r.header.timestamp === flat[k + 1]!.header.timestamp);
    [flat[i], flat[i + 1]] = [flat[i + 1]!, flat[i]!];
    const out = flat.flatMap((r) => p.processRtp(r));
    expect(p.stats.droppedBeforeKeyframe).toBe(20);
    expect(out[0]!.ptsMs).toBe(0);
    expect(nalTypes(out[0]!.unit.data)).toContain(NAL_IDR);
    expect(out.length).toBe(aus.length - 30);
    expect(p.stats.broken).toBe(0);
    expect(asks).toBe(0); // joining mid-stream is no loss; the owner's PLI timer covers the wait
  });

  it('survives garbage payloads (bad FU-A, STAP-A sizes, empty) without throwing', () => {
    const p = new VideoPipeline({ jitterBufferMs: 50 });
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const good = packetize(aus.slice(0, 40), { fps: FPS }).flat();
    let seq = 0;
    for (let i = 0; i < 2000; i++) {
      const base = good[i % good.length]!;
      const payload = Buffer.from(Array.from({ length: Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256)));
      if (payload.length > 0 && rnd() < 0.5) payload[0] = [24, 28, 5, 7][Math.floor(rnd() * 4)]!; // STAP-A, FU-A, IDR, SPS
      const rtp = new RtpPacket(new RtpHeader({ ...base.header, sequenceNumber: seq++ & 0xffff, timestamp: Math.floor(i / 3) * 3000, marker: i % 3 === 2 }), payload);
      expect(() => p.processRtp(rtp)).not.toThrow();
    }
    expect(() => p.flush()).not.toThrow();
  });

  it('muxes a unit larger than a PES length field allows', () => {
    const big = Buffer.alloc(200_000, 0x11);
    big.set([0, 0, 0, 1, 0x65], 0);
    const ts = new TsMuxer().mux({ data: big, pts90k: 90_000, keyframe: true });
    expect(ts.length % 188).toBe(0);
    for (let o = 0; o < ts.length; o += 188) expect(ts[o]).toBe(0x47);
  });
});
