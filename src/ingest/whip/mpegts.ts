/**
 * A minimal MPEG-TS muxer for one H.264 elementary stream: pure, no I/O.
 *
 * Why MPEG-TS on ffmpeg's stdin: it carries a presentation timestamp per access unit at
 * 90 kHz — the H.264 RTP clock — so the RTP timestamp becomes the PTS unchanged and the
 * decoder's stream time is RTP time, not arrival time. It takes Annex-B as is, with SPS/PPS
 * in band, so resolution changes mid-stream (browsers scale down under load) need nothing
 * special, and ffmpeg reads it from a pipe without seeking. Each PES has an explicit length,
 * so ffmpeg's demuxer hands the frame on as soon as its last byte arrives.
 */

const TS = 188;
const PAT_PID = 0x0000;
const PMT_PID = 0x1000;
export const VIDEO_PID = 0x0100;
const STREAM_TYPE_H264 = 0x1b;
const PTS_MOD = 2 ** 33;

let crcTable: Uint32Array | undefined;
function crc32Mpeg(buf: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i << 24;
      for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
      crcTable[i] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of buf) crc = ((crc << 8) ^ crcTable[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
  return crc >>> 0;
}

function writeTimestamp(out: Buffer, at: number, prefix: number, ts: number): void {
  // 33 bits split 3/15/15 with marker bits; arithmetic, not bit ops, above 2^31.
  const hi = Math.floor(ts / 2 ** 30) & 0x07;
  const mid = Math.floor(ts / 2 ** 15) & 0x7fff;
  const lo = ts & 0x7fff;
  out[at] = (prefix << 4) | (hi << 1) | 1;
  out[at + 1] = mid >> 7;
  out[at + 2] = ((mid & 0x7f) << 1) | 1;
  out[at + 3] = lo >> 7;
  out[at + 4] = ((lo & 0x7f) << 1) | 1;
}

export interface TsAccessUnit {
  /** Annex-B bytes of one access unit. */
  data: Uint8Array;
  /** Presentation time at 90 kHz (any non-negative integer; reduced mod 2^33). */
  pts90k: number;
  keyframe: boolean;
}

export class TsMuxer {
  private readonly cc = new Map<number, number>();

  /** PAT + PMT; written before every keyframe so a reader can join at any IDR. */
  private psi(): Buffer {
    const pat = Buffer.from([0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xe0 | (PMT_PID >> 8), PMT_PID & 0xff]);
    const pmt = Buffer.from([
      0x02, 0xb0, 0x12, 0x00, 0x01, 0xc1, 0x00, 0x00,
      0xe0 | (VIDEO_PID >> 8), VIDEO_PID & 0xff, 0xf0, 0x00,
      STREAM_TYPE_H264, 0xe0 | (VIDEO_PID >> 8), VIDEO_PID & 0xff, 0xf0, 0x00,
    ]);
    return Buffer.concat([this.section(PAT_PID, pat), this.section(PMT_PID, pmt)]);
  }

  private section(pid: number, body: Buffer): Buffer {
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32Mpeg(body));
    const pkt = Buffer.alloc(TS, 0xff);
    pkt[0] = 0x47;
    pkt[1] = 0x40 | (pid >> 8);
    pkt[2] = pid & 0xff;
    pkt[3] = 0x10 | this.nextCc(pid);
    pkt[4] = 0; // pointer_field
    body.copy(pkt, 5);
    crc.copy(pkt, 5 + body.length);
    return pkt;
  }

  private nextCc(pid: number): number {
    const c = this.cc.get(pid) ?? 15;
    const n = (c + 1) & 0x0f;
    this.cc.set(pid, n);
    return n;
  }

  /** One access unit -> TS packets (PAT/PMT first when it is a keyframe). */
  mux(au: TsAccessUnit): Buffer {
    const pts = ((Math.floor(au.pts90k) % PTS_MOD) + PTS_MOD) % PTS_MOD;
    const pesHeader = Buffer.alloc(14);
    pesHeader.writeUInt32BE(0x000001e0, 0);
    const pesLen = 8 + au.data.length; // bytes after the length field
    pesHeader.writeUInt16BE(pesLen <= 0xffff ? pesLen : 0, 4);
    pesHeader[6] = 0x80;
    pesHeader[7] = 0x80; // PTS only
    pesHeader[8] = 5;
    writeTimestamp(pesHeader, 9, 0x2, pts);
    const pes = Buffer.concat([pesHeader, au.data]);

    const packets: Buffer[] = au.keyframe ? [this.psi()] : [];
    let off = 0;
    let first = true;
    while (off < pes.length) {
      const pkt = Buffer.alloc(TS, 0xff);
      pkt[0] = 0x47;
      pkt[1] = (first ? 0x40 : 0) | (VIDEO_PID >> 8);
      pkt[2] = VIDEO_PID & 0xff;
      // Adaptation field: PCR + random access on the first packet of a keyframe, stuffing on the last.
      const withPcr = first && au.keyframe;
      const afMin = withPcr ? 8 : 0;
      const room = TS - 4 - afMin;
      const take = Math.min(room, pes.length - off);
      const afLen = TS - 4 - take; // total adaptation field bytes including its length byte
      pkt[3] = (afLen > 0 ? 0x30 : 0x10) | this.nextCc(VIDEO_PID);
      if (afLen > 0) {
        pkt[4] = afLen - 1;
        if (afLen > 1) {
          pkt[5] = withPcr ? 0x50 : 0x00; // random_access_indicator | PCR_flag
          if (withPcr) {
            const base = pts; // PCR = PTS: the stream is not paced by a clock anyway
            pkt[6] = Math.floor(base / 2 ** 25) & 0xff;
            pkt[7] = Math.floor(base / 2 ** 17) & 0xff;
            pkt[8] = Math.floor(base / 2 ** 9) & 0xff;
            pkt[9] = Math.floor(base / 2) & 0xff;
            pkt[10] = ((base & 1) << 7) | 0x7e;
            pkt[11] = 0;
          }
        }
      }
      pes.copy(pkt, 4 + afLen, off, off + take);
      off += take;
      first = false;
      packets.push(pkt);
    }
    return Buffer.concat(packets);
  }
}
