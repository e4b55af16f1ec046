/**
 * Model runtime benchmarks (issue 4). Prints tables; run `npx tsx bench/model.ts --help`.
 *
 *   step     per-frame decoder step latency + KV bytes per frame, for one or more packages
 *            (e.g. the MoD package and the same weights exported dense)
 *   streams  how many real-time streams (2 fps) the engine sustains, fed directly
 *   soak     step time and RSS from stream minute 1 to minute N (frames fed back to back)
 */
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { parseArgs } from 'node:util';
import { EventBus } from '../src/bus.ts';
import { checkView, frameFilter } from '../src/decode/filter.ts';
import { resolveFfmpeg } from '../src/ffmpeg.ts';
import type { Frame } from '../src/frames.ts';
import { cacheLimitsFor, ModelEngine } from '../src/model/engine.ts';
import { KvCache } from '../src/model/kv_cache.ts';
import { Model } from '../src/model/model.ts';
import { StreamContext } from '../src/model/stream_context.ts';
import { fmt, pct, table } from './table.ts';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'step' },
    pkg: { type: 'string', multiple: true, default: ['models/kibitz-demo'] },
    frames: { type: 'string', default: '200' },
    streams: { type: 'string', default: '1,2,4,8,12' },
    seconds: { type: 'string', default: '20' },
    minutes: { type: 'string', default: '60' },
    threads: { type: 'string', default: '0' },
    provider: { type: 'string', default: 'cpu' },
    /** Streams mode: frames decoded from this video (the service's chain) instead of noise. */
    'frames-from': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('npx tsx bench/model.ts --mode step|streams|soak [--pkg DIR ...] [--frames N] [--streams 1,2,4] [--seconds S] [--minutes M] [--threads T] [--provider cpu|webgpu] [--frames-from FILE.mp4]');
  process.exit(0);
}

const f1 = (x: number) => fmt(x, 1);
const log = pino({ level: 'warn' });

function noiseFrame(m: Model, seed: number): Uint8Array {
  const a = new Uint8Array(m.frameBytes);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < a.length; i++) {
    x = (x * 1664525 + 1013904223) >>> 0;
    a[i] = x >>> 24;
  }
  return a;
}

/** `n` frames of `file` through the service's decode chain (src/decode/filter.ts), at the package's size and view. */
async function framesFrom(m: Model, file: string, n: number): Promise<Uint8Array[]> {
  const { path: ffmpeg } = await resolveFfmpeg();
  const { fps, width, height, view } = m.manifest.frame;
  const out = execFileSync(ffmpeg, ['-v', 'error', '-i', file, '-vf', frameFilter(fps, width, height, view ? checkView(view) : undefined), '-frames:v', String(n), '-f', 'rawvideo', '-'],
    { maxBuffer: n * m.frameBytes + 1 });
  const frames = Array.from({ length: Math.floor(out.length / m.frameBytes) }, (_, i) => new Uint8Array(out.subarray(i * m.frameBytes, (i + 1) * m.frameBytes)));
  if (frames.length === 0) throw new Error(`--frames-from ${file}: ffmpeg decoded no frames`);
  return frames;
}

async function load(dir: string): Promise<Model> {
  return Model.load({ packageDir: dir, provider: values.provider as 'cpu', threading: Number(values.threads) ? { intraOp: Number(values.threads) } : {}, onFallback: (m) => console.error(m) });
}

async function stepBench(): Promise<void> {
  const rows: string[][] = [];
  for (const dir of values.pkg!) {
    const model = await load(dir);
    const m = model.manifest;
    const window = m.cache?.windowFrames ?? 120;
    const ctx = new StreamContext('bench', model, { limits: cacheLimitsFor(model), maxResponseTokens: 16 });   // what the engine runs
    const embeds = await model.encodeFrames([noiseFrame(model, 1)]);
    // Fill the window first: the steady state of a long stream is a full cache.
    for (let i = 0; i < window; i++) await ctx.stepFrame(embeds);
    const n = Number(values.frames);
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await ctx.stepFrame(embeds);
      times.push(performance.now() - t0);
    }
    const v0 = performance.now();
    for (let i = 0; i < 20; i++) await model.encodeFrames([noiseFrame(model, i)]);
    const visionMs = (performance.now() - v0) / 20;
    rows.push([m.name, String(m.decoder.keepRatio), String(m.vision.tokensPerFrame), String(m.decoder.routedLayers.length) + '/' + m.decoder.layers,
      f1(pct(times, 50)), f1(pct(times, 95)), (KvCache.kvBytesPerFrame(m) / 1024).toFixed(1), f1(visionMs), (ctx.cache.bytes / 1048576).toFixed(1)]);
    await model.close();
  }
  table(['package', 'keep', 'tok/frame', 'routed', 'step p50 ms', 'step p95 ms', 'KV KiB/frame', 'vision ms', 'cache MiB'], rows);
}

async function streamsBench(): Promise<void> {
  const model = await load(values.pkg![0]!);
  const rows: string[][] = [];
  const fps = model.manifest.frame.fps;
  const seconds = Number(values.seconds);
  if (model.manifest.world && !values['frames-from']) {
    console.error(`${model.manifest.name} has an in-world check: noise frames are not its world, so the decoder never runs on them. ` +
      'Pass --frames-from with a video of its world (e.g. models/samples/broadcast1.mp4) to time the decoder.');
  }
  // decoded once for every stream count
  const frames = values['frames-from'] ? await framesFrom(model, values['frames-from'], Math.ceil(seconds * fps) + 8)
    : Array.from({ length: 8 }, (_, i) => noiseFrame(model, i));
  for (const k of values.streams!.split(',').map(Number)) {
    const bus = new EventBus();
    const engine = new ModelEngine(model, bus, log, {});
    const names = Array.from({ length: k }, (_, i) => `s${i}`);
    names.forEach((n) => engine.open(n));
    const t0 = performance.now();
    let offered = 0;
    const timers = names.map((name, i) => {
      let seq = 0;
      const tick = () => {
        engine.offer({ stream: name, seq, streamTimeMs: (seq * 1000) / fps, width: model.manifest.frame.width, height: model.manifest.frame.height, view: engine.frameView, data: frames[seq % frames.length]!, decodedAt: performance.now() } satisfies Frame);
        seq++;
        offered++;
      };
      return setTimeout(() => { tick(); timersInner[i] = setInterval(tick, 1000 / fps); }, (i * 1000) / fps / k);
    });
    const timersInner: NodeJS.Timeout[] = [];
    const cpu0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    timers.forEach(clearTimeout);
    timersInner.forEach(clearInterval);
    const cpu = process.cpuUsage(cpu0);
    const elapsed = (performance.now() - t0) / 1000;
    let processed = 0;
    let skipped = 0;
    for (const n of names) {
      const s = engine.stats(n)!;
      processed += s.framesProcessed;
      skipped += s.framesSkipped;
    }
    const lat = [...engine.latencies];
    rows.push([String(k), String(offered), String(processed), String(skipped), ((100 * skipped) / Math.max(1, offered)).toFixed(1) + '%',
      f1(pct(lat, 50)), f1(pct(lat, 95)), (((cpu.user + cpu.system) / 1e6 / elapsed) * 100 / k).toFixed(0) + '%']);
    await engine.close();
  }
  table(['streams', 'frames offered', 'processed', 'skipped', 'skip %', 'frame->decision p50 ms', 'p95 ms', 'CPU/stream'], rows);
  await model.close();
}

async function soakBench(): Promise<void> {
  const model = await load(values.pkg![0]!);
  const m = model.manifest;
  const fps = m.frame.fps;
  const ctx = new StreamContext('soak', model, { limits: cacheLimitsFor(model), maxResponseTokens: 16 });
  const embeds = await model.encodeFrames([noiseFrame(model, 3)]);
  const rows: string[][] = [];
  const minutes = Number(values.minutes);
  const perMinute = fps * 60;
  for (let minute = 1; minute <= minutes; minute++) {
    const times: number[] = [];
    for (let i = 0; i < perMinute; i++) {
      const t0 = performance.now();
      await ctx.stepFrame(embeds);
      times.push(performance.now() - t0);
      if (i % 40 === 0) await ctx.generate([...model.prompts.commentary]); // some text, as a live stream has
    }
    if (minute === 1 || minute % 10 === 0 || minute === minutes) {
      rows.push([String(minute), f1(pct(times, 50)), f1(pct(times, 95)), (process.memoryUsage().rss / 1048576).toFixed(0), String(ctx.cache.seqLength)]);
    }
  }
  table(['stream minute', 'step p50 ms', 'step p95 ms', 'RSS MiB', 'tokens in cache'], rows);
  await model.close();
}


const mode = values.mode;
if (mode === 'step') await stepBench();
else if (mode === 'streams') await streamsBench();
else if (mode === 'soak') await soakBench();
else {
  console.error(`unknown --mode ${mode}: use step, streams or soak`);
  process.exit(2);
}
