import { describe, expect, it } from 'vitest';
import type { Frame } from '../../src/frames.ts';
import { frameFields, parseFrame } from '../../src/queue/redis/wire.ts';

/** A frame crossing Redis keeps what the worker's model checks: size and the view it was decoded through. */
const asBuffers = (fields: (string | Buffer)[]) => fields.map((f) => (Buffer.isBuffer(f) ? f : Buffer.from(f)));
const frame: Frame = { stream: 's', seq: 3, streamTimeMs: 1500, width: 4, height: 2, data: new Uint8Array(24).fill(7), decodedAt: performance.now() };

describe('frame wire format', () => {
  it('round-trips a whole-frame frame and one decoded through a view', () => {
    const plain = parseFrame('s', asBuffers(frameFields(frame)))!;
    expect(plain).toMatchObject({ seq: 3, streamTimeMs: 1500, width: 4, height: 2 });
    expect(plain.view).toBeUndefined();
    expect(Buffer.from(plain.data)).toEqual(Buffer.from(frame.data));
    const viewed = parseFrame('s', asBuffers(frameFields({ ...frame, view: [0.2703, 0.0611, 0.4602, 0.9167] })))!;
    expect(viewed.view).toEqual([0.2703, 0.0611, 0.4602, 0.9167]);
  });

  it('a malformed view makes the entry malformed (null), not a frame', () => {
    const fields = asBuffers(frameFields(frame));
    expect(parseFrame('s', [...fields, Buffer.from('v'), Buffer.from('0.1,x')])).toBeNull();
    expect(parseFrame('s', [...fields, Buffer.from('v'), Buffer.from('0.1,0.2')])).toBeNull();
  });
});
