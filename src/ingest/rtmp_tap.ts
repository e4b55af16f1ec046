import { PassThrough } from 'node:stream';
import { STDIN_INPUT, type DecoderInput } from '../decode/decoder.ts';
import type { Logger } from '../log.ts';

/** FLV bytes waiting for ffmpeg beyond this are not queued: skip to the next keyframe instead (~10 s of a 10 Mbit/s stream). */
export const TAP_BUFFER_LIMIT = 12 * 1024 * 1024;

/** ffmpeg reads the tap as FLV on stdin (on the decoder's private socket in search mode). */
export const RTMP_DECODER_INPUT_ARGS = ['-f', 'flv', '-i', STDIN_INPUT];

/** What the tap needs of node-media-server's per-path BroadcastServer. */
export interface Broadcast {
  postPlay(session: object): string | null;
  donePlay(session: object): void;
}

/** FLV tag types (the first byte of each tag node-media-server writes). */
const AUDIO = 8;
const VIDEO = 9;

/**
 * The decoder's copy of one RTMP publish, in process. Each decoder run subscribes to
 * node-media-server's broadcast for the publish's path as an internal FLV player (ip "", as the
 * library's own relays), and ffmpeg reads that FLV on its stdin.
 *
 * Why not play the publish back over loopback RTMP: a player joins when its ffmpeg has
 * connected, ~0.3 s after the publish began, and the library starts it at the latest keyframe.
 * With an encoder that puts a keyframe early (x264's scene cut), the decoder's first frame was
 * the publisher's frame 8, so every frame, line and answer was stamped 0.27 s before what it
 * showed (commentary scored "early" on a third of the chess broadcasts). The first run here
 * subscribes the moment the publish is accepted, before any media arrives, so it gets the
 * publish from its first packet: stream time 0 is the publisher's first frame. A restarted run
 * starts from the latest keyframe (the library's GOP cache), as a restart must.
 *
 * Bounded: when ffmpeg falls TAP_BUFFER_LIMIT behind, audio and non-key video tags are skipped
 * until a keyframe finds room (queued video is only latency); headers are always passed.
 */
export class RtmpTap {
  private current: { player: object; out: PassThrough } | null = null;
  /** Tags not passed to ffmpeg because it was too far behind. */
  skippedTags = 0;
  private skipping = false;

  constructor(private readonly broadcast: Broadcast, private readonly log: Logger, private readonly stream: string) {}

  /** A new decoder run's input: the previous run's subscription ends, this one starts with the library's headers and GOP cache. */
  open(): DecoderInput {
    this.close();
    const out = new PassThrough({ highWaterMark: 256 * 1024 });
    const player = {
      id: `kibitz-decoder-${this.stream}-${Date.now()}`,
      ip: '', // internal: no play events, no play auth
      protocol: 'flv',
      sendBuffer: (buf: Buffer) => this.write(out, buf),
      close: () => this.close(),
    };
    this.current = { player, out };
    this.skipping = false;
    const err = this.broadcast.postPlay(player);
    if (err) throw new Error(`cannot tap the RTMP publish: ${err}`);
    return { label: 'rtmp', args: RTMP_DECODER_INPUT_ARGS, stdin: out };
  }

  /** End the current subscription (publisher gone, publish refused, or a new run). Idempotent. */
  close(): void {
    const cur = this.current;
    if (!cur) return;
    this.current = null;
    this.broadcast.donePlay(cur.player);
    cur.out.end();
  }

  private write(out: PassThrough, buf: Buffer): void {
    if (this.current?.out !== out) return;
    const type = buf[0];
    const media = (type === AUDIO || type === VIDEO) && !isSequenceHeader(buf);
    // Video tag data starts at byte 11: frame type in the high nibble (1 = key), also with the enhanced-RTMP flag bit.
    const key = media && type === VIDEO && ((buf[11]! >> 4) & 7) === 1;
    const behind = out.writableLength + out.readableLength > TAP_BUFFER_LIMIT;
    if (media && (behind || (this.skipping && !key))) {
      if (!this.skipping) this.log.warn({ stream: this.stream, bufferedMB: Math.round((out.writableLength + out.readableLength) / 1e6) }, 'decoder too far behind the RTMP publish (overloaded?); skipping to the next keyframe');
      this.skipping = true;
      this.skippedTags++;
      return;
    }
    if (key) this.skipping = false;
    out.write(buf);
  }
}

/** A codec's configuration (AVC/HEVC decoder record, AAC config): never skipped. */
function isSequenceHeader(tag: Buffer): boolean {
  if (tag.length < 13) return false;
  const b = tag[11]!;
  if (tag[0] === VIDEO) return b & 0x80 ? (b & 0x0f) === 0 : tag[12] === 0 && ((b & 0x0f) === 7 || (b & 0x0f) === 12);
  return tag[0] === AUDIO && b >> 4 === 10 && tag[12] === 0;
}
