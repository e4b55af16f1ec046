import { dePacketizeRtpPackets, type RtpPacket } from 'werift/nonstandard';

/** Pure H.264 helpers on Annex-B bytes and RTP packets: no I/O. */

export const NAL_IDR = 5;
export const NAL_SPS = 7;
export const NAL_PPS = 8;
export const NAL_AUD = 9;

/** Start offsets of NAL payloads (after each 00 00 01 / 00 00 00 01) in an Annex-B buffer. */
export function nalOffsets(buf: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 2 < buf.length; i++) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      out.push(i + 3);
      i += 2;
    }
  }
  return out;
}

export function nalTypes(buf: Uint8Array): number[] {
  return nalOffsets(buf)
    .filter((o) => o < buf.length)
    .map((o) => buf[o]! & 0x1f);
}

const START = Buffer.from([0, 0, 0, 1]);

/** SPS/PPS from an fmtp `sprop-parameter-sets` value, as Annex-B; empty when absent or bad. */
export function spropToAnnexB(sprop: string | undefined): Buffer {
  if (!sprop) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  for (const b64 of sprop.split(',')) {
    const nal = Buffer.from(b64.trim(), 'base64');
    const type = nal[0]! & 0x1f;
    if (nal.length > 1 && (type === NAL_SPS || type === NAL_PPS)) parts.push(START, nal);
  }
  return Buffer.concat(parts);
}

export interface AccessUnit {
  /** Annex-B bytes of one coded picture (all its NAL units). */
  data: Buffer;
  /** RTP timestamp (90 kHz, uint32 as received). */
  rtpTimestamp: number;
  /** Contains an IDR slice. */
  keyframe: boolean;
  /** Contains SPS and PPS. */
  hasParameterSets: boolean;
  /** performance.now() when its last packet arrived (for latency metrics). */
  receivedAt: number;
}

export interface AssemblerStats {
  accessUnits: number;
  /** Access units thrown away because a packet of theirs never came. */
  broken: number;
  /** Access units that could not be depacketized (corrupt payload). */
  corrupt: number;
  /** RTP packets never seen (sequence gaps). */
  lostPackets: number;
}

/**
 * RTP packets (in sequence order, from a jitter buffer) -> whole access units. A unit ends at
 * the marker bit, or when the timestamp changes (a lost marker packet must not glue two
 * pictures together). A sequence gap breaks the units on both sides of it (which one lost the
 * packets is unknowable): they are dropped and `onLoss` fires so the owner can ask for a keyframe.
 */
export class AccessUnitAssembler {
  private pending: RtpPacket[] = [];
  private pendingBroken = false;
  private lastSeq: number | undefined;
  readonly stats: AssemblerStats = { accessUnits: 0, broken: 0, corrupt: 0, lostPackets: 0 };

  constructor(private readonly onLoss: () => void = () => {}, private readonly now: () => number = () => performance.now()) {}

  processInput(rtp: RtpPacket): AccessUnit[] {
    const out: AccessUnit[] = [];
    const { sequenceNumber: seq, timestamp, marker } = rtp.header;
    // A gap breaks the unit in progress (its tail is missing) and the next one (its head may be).
    const gap = this.lastSeq !== undefined && ((this.lastSeq + 1) & 0xffff) !== seq;
    if (gap) {
      this.stats.lostPackets += (seq - this.lastSeq! - 1) & 0xffff;
      this.pendingBroken = true;
      this.onLoss();
    }
    if (this.pending.length > 0 && this.pending[0]!.header.timestamp !== timestamp) {
      this.finish(out);
      if (gap) this.pendingBroken = true;
    }
    this.lastSeq = seq;
    if (rtp.payload.length === 0) return out; // padding-only probe packets
    this.pending.push(rtp);
    if (marker) this.finish(out);
    return out;
  }

  /** Emits the pending unit, if any (end of stream). */
  flush(): AccessUnit[] {
    const out: AccessUnit[] = [];
    this.finish(out);
    return out;
  }

  private finish(out: AccessUnit[]): void {
    const packets = this.pending;
    const broken = this.pendingBroken;
    this.pending = [];
    this.pendingBroken = false;
    if (packets.length === 0) return;
    if (broken) {
      this.stats.broken++;
      return;
    }
    let data: Buffer;
    try {
      data = dePacketizeRtpPackets('MPEG4/ISO/AVC', packets).data;
    } catch {
      this.stats.corrupt++;
      this.onLoss();
      return;
    }
    if (data.length === 0) return;
    const types = nalTypes(data);
    this.stats.accessUnits++;
    out.push({
      data,
      rtpTimestamp: packets[0]!.header.timestamp,
      keyframe: types.includes(NAL_IDR),
      hasParameterSets: types.includes(NAL_SPS) && types.includes(NAL_PPS),
      receivedAt: this.now(),
    });
  }
}

/** Unwraps 32-bit RTP timestamps into a monotonic count from the first one seen (90 kHz ticks). */
export class RtpClock {
  private base: number | undefined;
  private last = 0;
  private ext = 0;

  /** Ticks since the first timestamp passed in; jumps of more than 2^31 backwards count as wraps. */
  ticks(ts: number): number {
    if (this.base === undefined) {
      this.base = ts;
      this.last = ts;
      return 0;
    }
    const d = (ts - this.last) | 0; // signed 32-bit difference handles the wrap
    this.last = ts >>> 0;
    this.ext += d;
    return this.ext;
  }
}
