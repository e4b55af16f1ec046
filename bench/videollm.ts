/**
 * What an imported general model (VideoLLM-online class) costs per stream, the numbers issue 31
 * asks for, one table per provider:
 *
 *   npx tsx bench/videollm.ts --pkg DENSE_PKG [--pkg MOD_PKG] [--provider cpu|webgpu|cuda] [--streams 1,8,32] [--steps 10]
 *
 * - frame step ms (p50) with B streams batched in one decoder run, every frame stepped, and the
 *   frames per second that makes (2 fps per stream is real time);
 * - text tokens/s for one stream, and the first commentary token's latency after its frame
 *   (frame step + the "]\nAssistant:" prompt step + choosing the token; vision not included,
 *   it is printed on its own);
 * - KV per stream. The cache is fixed-size buffers (sinks + window + text slots), filled or not:
 *   its memory and each step's cost are the same at minute 1, 10 and 60 of a stream, which is
 *   why the step is timed without filling it first. With the KV on the host (today's runtime)
 *   every step hands all of it to the provider: "KV fed/step" is that traffic per stream.
 * Frames are noise: the cost does not depend on the pixels.
 */
import { parseArgs } from 'node:util';
import { cacheLimitsFor } from '../src/model/engine.ts';
import { Model } from '../src/model/model.ts';
import { argmax, StreamContext } from '../src/model/stream_context.ts';
import type { Provider } from '../src/model/provider.ts';
import { fmt, pct, table } from './table.ts';

const { values } = parseArgs({
  options: {
    pkg: { type: 'string', multiple: true },
    provider: { type: 'string', default: 'cpu' },
    streams: { type: 'string', default: '1,8,32' },
    steps: { type: 'string', default: '10' },
    threads: { type: 'string', default: '0' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help || !values.pkg?.length) {
  console.log('npx tsx bench/videollm.ts --pkg DIR [--pkg DIR2] [--provider cpu|webgpu|cuda] [--streams 1,8,32] [--steps 10] [--threads T]');
  process.exit(values.help ? 0 : 2);
}
const provider = values.provider as Provider;
const steps = Math.max(1, Number(values.steps));
const counts = values.streams!.split(',').map(Number).filter((n) => n > 0);

function noise(bytes: number, seed: number): Uint8Array {
  const a = new Uint8Array(bytes);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < a.length; i++) {
    x = (x * 1664525 + 1013904223) >>> 0;
    a[i] = x >>> 24;
  }
  return a;
}

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await f();
  return [r, performance.now() - t0];
}

interface Row {
  name: string;
  /** The provider the sessions run on (after any fallback). */
  ran: string;
  routed: string;
  byStreams: Map<number, number>;
  visionMs: number;
  tokensPerS: number;
  firstTokenMs: number;
  kvMiB: number;
}

async function measure(dir: string): Promise<Row> {
  const model = await Model.load({ packageDir: dir, provider, threading: Number(values.threads) ? { intraOp: Number(values.threads) } : {}, onFallback: (m) => console.error(m) });
  const m = model.manifest;
  if (model.sessions.provider !== provider) console.error(`${m.name}: ran on ${model.sessions.provider}, not ${provider}`);
  const limits = cacheLimitsFor(model);
  const frame = noise(model.frameBytes, 1);
  const vision = await model.encodeFrames([frame]); // the first run also warms the session up
  const visionRuns: number[] = [];
  for (let i = 0; i < 3; i++) visionRuns.push((await timed(() => model.encodeFrames([noise(model.frameBytes, 2 + i)])))[1]);
  const visionMs = pct(visionRuns, 50);
  const byStreams = new Map<number, number>();
  let kvMiB = 0;
  for (const B of counts) {
    const ctxs = Array.from({ length: B }, (_, i) => new StreamContext(`s${i}`, model, { limits, maxResponseTokens: 16 }));
    kvMiB = ctxs[0]!.cache.bytes / 1048576;
    const times: number[] = [];
    for (let s = 0; s < steps + 2; s++) {
      const items = ctxs.map((ctx) => ({ ctx, embeds: ctx.frameInput(vision) }));
      const [, ms] = await timed(() => StreamContext.stepFrames(model, items));
      if (s >= 2) times.push(ms); // the first steps warm the provider up (and the first has no separator)
    }
    byStreams.set(B, pct(times, 50));
  }
  // One stream: the first commentary token after a frame, then tokens/s of the line.
  const ctx = new StreamContext('one', model, { limits, maxResponseTokens: 16 });
  await ctx.stepFrame(ctx.frameInput(vision));
  const [, firstTokenMs] = await timed(async () => {
    await ctx.stepFrame(ctx.frameInput(vision));
    const logits = await ctx.feedText([...model.prompts.commentary]);
    return argmax(logits, model.outputMask);
  });
  await ctx.stepFrame(ctx.frameInput(vision));
  const [gen, genMs] = await timed(() => ctx.generate([...model.prompts.commentary], model.prompts.afterLine('commentary')));
  const textSteps = gen.ids.length + 2; // prompt, each word, eos
  await model.close();
  return {
    name: m.name, ran: model.sessions.provider, routed: m.decoder.routedLayers.length ? `${m.decoder.routedLayers.length}/${m.decoder.layers} at r=${m.decoder.keepRatio}` : 'dense',
    byStreams, visionMs, tokensPerS: (textSteps * 1000) / genMs, firstTokenMs, kvMiB,
  };
}

const rows: Row[] = [];
for (const dir of values.pkg) rows.push(await measure(dir));
const ran = [...new Set(rows.map((r) => r.ran))].join(', ');
console.log(`\nprovider ${provider}${ran === provider ? '' : ` asked, ran on ${ran}`}, ${steps} timed steps per point, p50`);
table(
  ['package', 'routing', ...counts.map((b) => `step ms @${b}`), ...counts.map((b) => `frames/s @${b}`), 'vision ms/frame', 'text tok/s', '1st token ms', 'KV MiB/stream (= KV fed/step)'],
  rows.map((r) => [r.name, r.routed, ...counts.map((b) => fmt(r.byStreams.get(b)!, 1)), ...counts.map((b) => fmt((b * 1000) / r.byStreams.get(b)!, 1)),
    fmt(r.visionMs, 1), fmt(r.tokensPerS, 1), fmt(r.firstTokenMs, 1), fmt(r.kvMiB, 1)]),
);
if (rows.length === 2) {
  console.log('');
  table(['streams', `${rows[1]!.name} / ${rows[0]!.name} step`], counts.map((b) => [String(b), fmt(rows[1]!.byStreams.get(b)! / rows[0]!.byStreams.get(b)!, 2)]));
}
