import { randomInt } from 'node:crypto';
import { RtpHeader, RtpPacket } from 'werift/nonstandard';

export interface PacketizerOptions {
  payloadType: number;
  ssrc?: number;
  /** First sequence number (random when absent, as a sender's). */
  sequenceNumber?: number;
  /** Largest RTP payload; a NAL unit above it goes out as FU-A fragments (RFC 6184 5.8). */
  maxPayloadSize: number;
}

/**
 * H.264 over RTP as a WebRTC sender packetizes it (RFC 6184, packetization-mode 1): one Annex-B
 * access unit in, its NAL units out as single-NAL packets or FU-A fragments, the marker on the
 * unit's last packet. The test senders' own, so they do not depend on which werift version
 * exports a packetizer (0.25 does; 0.24, the last to support Node 20, does not).
 */
export class H264Packetizer {
  private seq: number;
  private readonly ssrc: number;

  constructor(private readonly opts: PacketizerOptions) {
    this.seq = opts.sequenceNumber ?? randomInt(0, 0x10000);
    this.ssrc = opts.ssrc ?? randomInt(1, 0xffffffff);
  }

  packetize(accessUnit: Buffer, timestamp: number): RtpPacket[] {
    const nals = splitAnnexB(accessUnit);
    const out: RtpPacket[] = [];
    nals.forEach((nal, n) => {
      const last = n === nals.length - 1;
      if (nal.length <= this.opts.maxPayloadSize) {
        out.push(this.packet(nal, timestamp, last));
        return;
      }
      const indicator = (nal[0]! & 0xe0) | 28; // FU-A, the NAL's F and NRI bits
      const type = nal[0]! & 0x1f;
      const body = nal.subarray(1);
      const room = this.opts.maxPayloadSize - 2;
      for (let off = 0; off < body.length; off += room) {
        const chunk = body.subarray(off, Math.min(body.length, off + room));
        const end = off + chunk.length >= body.length;
        const header = (off === 0 ? 0x80 : 0) | (end ? 0x40 : 0) | type;
        out.push(this.packet(Buffer.concat([Buffer.from([indicator, header]), chunk]), timestamp, last && end));
      }
    });
    return out;
  }

  private packet(payload: Buffer, timestamp: number, marker: boolean): RtpPacket {
    const header = new RtpHeader({ payloadType: this.opts.payloadType, sequenceNumber: this.seq, timestamp: timestamp >>> 0, ssrc: this.ssrc, marker });
    this.seq = (this.seq + 1) & 0xffff;
    return new RtpPacket(header, payload);
  }
}

/** NAL units of Annex-B bytes, without their start codes. */
function splitAnnexB(buf: Buffer): Buffer[] {
  const starts: { at: number; len: number }[] = [];
  for (let i = 0; i + 2 < buf.length; i++) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      starts.push({ at: i + 3, len: i > 0 && buf[i - 1] === 0 ? 4 : 3 });
      i += 2;
    }
  }
  return starts.map((s, k) => {
    const next = starts[k + 1];
    return buf.subarray(s.at, next ? next.at - next.len : buf.length);
  }).filter((n) => n.length > 0);
}
