import { describe, expect, it } from 'vitest';
import { matchStreamKey } from '../../src/ingest/keys.ts';
import { DropOldestQueue } from '../../src/stream/queue.ts';
import { StreamSession } from '../../src/stream/session.ts';

describe('DropOldestQueue', () => {
  it('drops the oldest beyond capacity and returns it', () => {
    const q = new DropOldestQueue<number>(3);
    expect([1, 2, 3].map((n) => q.push(n))).toEqual([undefined, undefined, undefined]);
    expect(q.push(4)).toBe(1);
    expect(q.size).toBe(3);
  });

  it('hands items straight to a waiting consumer; ends on close after draining, or on abort', async () => {
    const q = new DropOldestQueue<number>(2);
    const p = q.next();
    q.push(7);
    expect(await p).toEqual({ value: 7, done: false });
    q.push(8);
    q.close();
    expect(await q.next()).toEqual({ value: 8, done: false });
    expect((await q.next()).done).toBe(true);
    const q2 = new DropOldestQueue<number>(2);
    const ac = new AbortController();
    const waiting = q2.next(ac.signal);
    ac.abort();
    expect((await waiting).done).toBe(true);
  });
});

describe('StreamSession frames', () => {
  const mk = (cap = 2) => new StreamSession({ name: 's', fps: 2, width: 2, height: 1, queueCapacity: cap });

  it('counts sampled and dropped frames with no consumer; memory stays bounded', () => {
    const s = mk(2);
    s.beginDecoderRun();
    for (let i = 0; i < 10; i++) s.pushFrame(Buffer.alloc(6), i * 500, 0);
    expect(s.counters).toMatchObject({ framesSampled: 10, framesDropped: 8 });
    expect(s.queuedFrames).toBe(2);
  });

  it('stream time continues across decoder runs; one consumer at a time; iteration ends with the session', async () => {
    const s = mk(10);
    s.beginDecoderRun();
    s.pushFrame(Buffer.alloc(6), 0, 0);
    s.pushFrame(Buffer.alloc(6), 500, 0);
    s.beginDecoderRun(); // restart / reconnect
    s.pushFrame(Buffer.alloc(6), 0, 0);
    const it = s.frames();
    expect(() => s.frames()).toThrow(/already has a frame consumer/);
    s.end('test');
    const got = [];
    for await (const f of it) got.push([f.seq, f.streamTimeMs]);
    expect(got).toEqual([[0, 0], [1, 500], [2, 1000]]);
    expect(s.endSignal.aborted).toBe(true);
  });
});

describe('matchStreamKey', () => {
  it('finds the stream by key (constant-time compare over all keys)', () => {
    const streams = [{ name: 'a', key: 'key-a' }, { name: 'b', key: 'key-b' }];
    expect(matchStreamKey(streams, 'key-b')?.name).toBe('b');
    expect(matchStreamKey(streams, 'key-')).toBeUndefined();
    expect(matchStreamKey(streams, '')).toBeUndefined();
  });
});
