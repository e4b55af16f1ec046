import { spawnSync } from 'node:child_process';
import type { RtpPacket } from 'werift/nonstandard';
import { H264Packetizer } from './packetizer.ts';
import { NAL_AUD, nalOffsets } from '../../../src/ingest/whip/h264.ts';

/** Encodes a test pattern with the real ffmpeg and returns its access units (Annex-B, AUD first). */
export function encodeTestClip(opts: { seconds: number; fps: number; size?: string; gop?: number }): Buffer[] {
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc=size=${opts.size ?? '160x120'}:rate=${opts.fps}`,
    '-t', String(opts.seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-bf', '0',
    '-g', String(opts.gop ?? opts.fps), '-x264-params', 'aud=1', '-pix_fmt', 'yuv420p', '-f', 'h264', '-',
  ], { maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
  const buf = r.stdout as Buffer;
  // Cut at each access unit delimiter (start code + NAL type 9).
  const starts = nalOffsets(buf)
    .filter((o) => (buf[o]! & 0x1f) === NAL_AUD)
    .map((o) => (o >= 4 && buf[o - 4] === 0 ? o - 4 : o - 3));
  return starts.map((s, i) => buf.subarray(s, starts[i + 1] ?? buf.length));
}

/** Packetizes access units as a WebRTC sender would: 90 kHz timestamps, marker on each unit's last packet. */
export function packetize(aus: Buffer[], opts: { fps: number; firstTs?: number; ssrc?: number; seq?: number }): RtpPacket[][] {
  const p = new H264Packetizer({ payloadType: 102, ssrc: opts.ssrc ?? 1234, sequenceNumber: opts.seq ?? 100, maxPayloadSize: 1100 });
  const step = 90_000 / opts.fps;
  return aus.map((au, i) => p.packetize(au, ((opts.firstTs ?? 0) + Math.round(i * step)) >>> 0));
}
