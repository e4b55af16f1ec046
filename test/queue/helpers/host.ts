import { sampleFrames } from '../../helpers/sample_frames.ts';
import type { Brain } from '../../../src/brain.ts';
import { EventBus } from '../../../src/bus.ts';
import type { Config } from '../../../src/config/schema.ts';
import { loadConfig } from '../../../src/config/load.ts';
import type { KibitzEvent } from '../../../src/events.ts';
import { createLogger, type Logger } from '../../../src/log.ts';
import { StreamSession } from '../../../src/stream/session.ts';
import { Metrics } from '../../../src/metrics.ts';
import { remoteModelHost } from '../../../src/model_host/remote.ts';
import type { HostParts } from '../../../src/model_host/port.ts';
import type { IngestNode } from '../../../src/queue/redis/ingest_node.ts';
import type { RedisQueueOptions } from '../../../src/queue/redis/options.ts';

export const PKG = 'models/kibitz-demo';
export const W = 256;
export const H = 144;
export const FPS = 1;
/** Short lines keep the always-speaking demo model cheap on a 2-core machine (the guards let a capped line through). */
export const ENGINE = { maxResponseTokens: 4 };

export function testLog(): Logger {
  return createLogger({ level: process.env.KIBITZ_TEST_LOG ?? 'silent', format: 'json', destination: process.stderr });
}

/** Config overrides for the Redis path with the bundled model; threshold 1.0 so the model always speaks. */
export function redisOverrides(url: string, streams: string[], queue: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...extra,
    log: { level: 'warn' },
    model: { package: PKG, threshold: 1.0, fps: FPS },
    decode: { width: W, height: H },
    queue: { kind: 'redis', url, leaseMs: 2000, pollMs: 200, ...queue },
    streams: streams.map((name) => ({ name, key: `key-${name}` })),
  };
}

export function redisConfig(url: string, streams: string[], queue: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Config {
  return loadConfig({ noDefault: true, env: {}, overrides: redisOverrides(url, streams, queue, extra) });
}

// Decoded at import, before any worker holds a lease: a synchronous decode later would stall
// the event loop that renews them.
const FRAMES = sampleFrames(W, H);

/**
 * A frame of the model's size whose pixels depend on the stream and seq: frames of a held-out
 * sample broadcast (the model's own world), each stream starting at another place in it.
 */
export function frameBytes(streamIx: number, seq: number): Buffer {
  const f = FRAMES[(streamIx * 23 + seq) % FRAMES.length]!;
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
}

/**
 * The parts of an app the Redis ingest uses, with real StreamSessions fed synthetic frames
 * (no ffmpeg): what a real ingest node does between decode and the model.
 */
export class FakeHost implements HostParts {
  readonly bus = new EventBus();
  readonly metrics = new Metrics({ defaultMetrics: false });
  readonly events: KibitzEvent[] = [];
  brain: Brain | undefined;
  private readonly map = new Map<string, StreamSession>();
  private readonly listeners = new Set<(s: StreamSession) => void>();
  private readonly closers: (() => unknown)[] = [];
  private readonly feeders = new Map<string, NodeJS.Timeout>();

  constructor(readonly config: Config, readonly log: Logger = testLog()) {
    this.bus.subscribe((ev) => this.events.push(ev));
  }

  sessions = {
    list: () => [...this.map.values()],
    get: (name: string) => this.map.get(name),
  };

  onSession(cb: (s: StreamSession) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  onClose(fn: () => unknown): void {
    this.closers.push(fn);
  }

  /** Starts a stream and feeds it `fps` frames per second until stopped. */
  startStream(name: string, ix: number, fps = FPS): StreamSession {
    const s = new StreamSession({ name, fps, width: W, height: H, queueCapacity: this.config.ingest.frameQueueCapacity });
    this.map.set(name, s);
    for (const cb of this.listeners) cb(s);
    let seq = 0;
    const t = setInterval(() => {
      s.pushFrame(frameBytes(ix, seq), (seq * 1000) / fps, performance.now());
      seq++;
    }, 1000 / fps);
    this.feeders.set(name, t);
    return s;
  }

  endStream(name: string): void {
    clearInterval(this.feeders.get(name));
    this.map.get(name)?.end('test');
  }

  eventsOf(stream: string, kind?: string): KibitzEvent[] {
    return this.events.filter((e) => e.stream === stream && (!kind || e.kind === kind));
  }

  async close(): Promise<void> {
    for (const t of this.feeders.values()) clearInterval(t);
    for (const fn of this.closers.reverse()) await fn();
    for (const s of this.map.values()) s.end('closed');
  }
}

/**
 * The Redis ingest host (src/model_host/remote.ts) started on a FakeHost, as createApp
 * starts it on an app: its brain answers the host's questions, new sessions go to it, and it
 * closes with the host.
 */
export function startIngestNode(host: FakeHost, overrides: Partial<RedisQueueOptions> = {}): IngestNode {
  const modelHost = remoteModelHost(overrides);
  // start() builds the ingest node before its first await, so the node is there on return.
  void modelHost.start(host);
  const ingest = modelHost.ingest!;
  host.brain = modelHost.brain;
  const off = host.onSession((s) => modelHost.consume(s));
  for (const s of host.sessions.list()) if (s.state !== 'ended') modelHost.consume(s);
  host.onClose(async () => {
    off();
    host.brain = undefined;
    await modelHost.close();
  });
  return ingest;
}
