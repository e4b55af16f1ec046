import type { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RTMP_DECODER_INPUT_ARGS, RtmpTap, TAP_BUFFER_LIMIT } from '../../src/ingest/rtmp_tap.ts';
import { createLogger } from '../../src/log.ts';

/** An FLV tag as node-media-server writes one: type, then 10 header bytes, then the data. */
function tag(type: 8 | 9, data: number[], size = 0): Buffer {
  const b = Buffer.alloc(11 + Math.max(data.length, size) + 4);
  b[0] = type;
  Buffer.from(data).copy(b, 11);
  return b;
}
const keyframe = (size = 0) => tag(9, [0x17, 1], size);
const interframe = (size = 0) => tag(9, [0x27, 1], size);
const avcHeader = () => tag(9, [0x17, 0]);
const aacHeader = () => tag(8, [0xaf, 0]);
const audio = () => tag(8, [0xaf, 1]);

/** node-media-server's broadcast as the tap sees it: players join with postPlay (it sends them its headers) and leave with donePlay. */
class FakeBroadcast {
  players = new Set<{ sendBuffer(b: Buffer): void }>();
  postPlay(p: { sendBuffer(b: Buffer): void }) {
    this.players.add(p);
    p.sendBuffer(Buffer.from('FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00', 'binary'));
    return null;
  }
  donePlay(p: { sendBuffer(b: Buffer): void }) {
    this.players.delete(p);
  }
  send(b: Buffer) {
    for (const p of this.players) p.sendBuffer(b);
  }
}

describe('the decoder\'s tap of an RTMP publish', () => {
  it('is FLV on stdin from the moment it opens; each run replaces the last and close ends it', async () => {
    const bc = new FakeBroadcast();
    const tap = new RtmpTap(bc, createLogger({ level: 'silent' }), 's');
    const input = tap.open();
    expect(input.args).toEqual(RTMP_DECODER_INPUT_ARGS);
    bc.send(avcHeader());
    bc.send(keyframe());
    const first = input.stdin!;
    const again = tap.open();
    expect(bc.players.size).toBe(1);
    bc.send(interframe());
    tap.close();
    expect(bc.players.size).toBe(0);
    const read = async (s: NodeJS.ReadableStream) => {
      const parts: Buffer[] = [];
      for await (const c of s) parts.push(c as Buffer);
      return Buffer.concat(parts);
    };
    const a = await read(first), b = await read(again.stdin!);
    expect(a.subarray(0, 3).toString()).toBe('FLV');
    expect(a.length).toBe(13 + avcHeader().length + keyframe().length); // the first run ended when the second opened
    expect(b.length).toBe(13 + interframe().length);
  });

  it('when ffmpeg falls behind: skips audio and video to the next keyframe, never the codec headers', () => {
    const bc = new FakeBroadcast();
    const tap = new RtmpTap(bc, createLogger({ level: 'silent' }), 's');
    const out = tap.open().stdin! as PassThrough;
    const big = 1024 * 1024;
    bc.send(keyframe(big));
    while (out.readableLength + out.writableLength <= TAP_BUFFER_LIMIT) bc.send(interframe(big));
    const queued = out.readableLength + out.writableLength;
    bc.send(interframe());
    bc.send(audio());
    bc.send(keyframe()); // still no room: skipped too
    expect(tap.skippedTags).toBe(3);
    bc.send(avcHeader());
    bc.send(aacHeader());
    const withHeaders = out.readableLength + out.writableLength;
    expect(withHeaders).toBe(queued + avcHeader().length + aacHeader().length);
    // ffmpeg catches up: what follows waits for a keyframe
    while (out.read() !== null);
    bc.send(interframe());
    expect(tap.skippedTags).toBe(4);
    bc.send(keyframe());
    bc.send(interframe());
    expect(tap.skippedTags).toBe(4);
    tap.close();
  });
});
