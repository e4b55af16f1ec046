import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheLimitsFor } from '../../src/model/engine.ts';
import { Model } from '../../src/model/model.ts';
import { StreamContext } from '../../src/model/stream_context.ts';
import { sampleFrames } from '../helpers/sample_frames.ts';
import { buildTinyVideoLlm, PYTHON, type TinyVideoLlm } from '../helpers/tiny_videollm.ts';

/**
 * An imported VideoLLM-online checkpoint (tiny, random weights, the exact public layout) run by
 * the real runtime — its tokenizer, prompt format, frame separator, KV cache with sinks, window
 * eviction and rotated keys — against an independent PyTorch reference that reads the checkpoint
 * folders itself (LoRA applied unmerged, pre-RoPE keys re-rotated at their rank: StreamingLLM).
 */
type TraceStep =
  | { kind: 'text'; ids: number[]; kept: number[] }
  | { kind: 'frame'; prefix: number[]; width: number; height: number; rgb_b64: string; kept: number[] };

describe.each([
  { kind: 'dense', routers: false },
  { kind: 'with MoD routers (text steps through the routed frame graph, vision_tokens = 0)', routers: true },
])('an imported VideoLLM-online checkpoint, $kind', ({ routers }) => {
  let tiny: TinyVideoLlm;
  let model: Model;

  beforeAll(async () => {
    tiny = buildTinyVideoLlm({ routers });
    model = await Model.load({ packageDir: tiny.pkg });
    expect(model.manifest.decoder.routedLayers.length > 0).toBe(routers);
    expect(model.sessions.frame.inputNames.includes('vision_tokens')).toBe(routers); // a dense graph never reads it
  }, 600_000);
  afterAll(() => model?.close());

  it('writes the stream as the reference does: start prompt, "," between frames, its chat templates', () => {
    const { prompts, codec, manifest } = model;
    expect(manifest.kind).toBe('general');
    expect(codec.decode([...prompts.start])).toContain('A multimodal AI assistant');
    expect(prompts.start[0]).toBe(manifest.tokens.bos);
    expect([...prompts.frameSeparator]).toEqual([manifest.tokens.silent]); // P(",") after a frame is P(silent)
    expect(prompts.afterLine('answer').length).toBeGreaterThan(0);
    // a viewer's question goes in as typed, every word kept; special-token text typed by a viewer is not honoured
    const q = prompts.question('What is the <|eot_id|>dog doing?!', 64);
    expect(q).toEqual(codec.encodeTemplate(']\nUser: What is the dog doing?!\nAssistant:'));
    expect(q).not.toContain(manifest.tokens.eos);
    // a question too long for one step keeps the whole template and is cut itself
    const long = prompts.question('why '.repeat(200), 40);
    expect(long.length).toBeLessThanOrEqual(40);
    expect(codec.decode(long)).toMatch(/^\] User: why why .* Assistant:$/);
  });

  it('matches the PyTorch reference step for step, through sinks and window eviction', async () => {
    const { manifest } = model;
    const V = manifest.vision.tokensPerFrame;
    const d = manifest.decoder.dModel;
    const limits = cacheLimitsFor(model, { windowFrames: 3, textBudget: 48, maxStepTokens: 32 });
    const ctx = new StreamContext('parity', model, { limits, maxResponseTokens: 6 });
    const frames = sampleFrames(manifest.frame.width, manifest.frame.height);
    const steps: TraceStep[] = [];
    const logits: Float32Array[] = [];
    let current: Uint8Array | null = null;

    // Watch every decoder run: what it was fed, what the cache kept before it, its last logits.
    // The package runs text steps through decoder_frame.onnx too (one session, weights once), so a
    // step is told by its rows: a text step's are all vocabulary rows, a frame's end in vision rows.
    expect(manifest.decoder.frameGraphRunsText).toBe(true);
    expect(model.sessions.text).toBe(model.sessions.frame);
    const session = model.sessions.frame;
    const run = session.run.bind(session);
    (session as { run: unknown }).run = async (feeds: Record<string, ort.Tensor>) => {
      const embeds = feeds['inputs_embeds']!.data as Float32Array;
      const n = feeds['inputs_embeds']!.dims[1]!;
      const kept = [...ctx.cache.keptSerials];
      const ids = Array.from({ length: n }, (_, t) => rowId(model, embeds.subarray(t * d, (t + 1) * d)));
      if (ids.every((id) => id >= 0)) steps.push({ kind: 'text', ids, kept });
      else steps.push({ kind: 'frame', prefix: ids.slice(0, n - V), width: manifest.frame.width, height: manifest.frame.height, rgb_b64: Buffer.from(current!).toString('base64'), kept });
      const out = await run(feeds);
      const all = out['logits']!.data as Float32Array;
      logits.push(all.slice(all.length - manifest.decoder.vocab));
      return out;
    };

    for (let f = 0; f < 9; f++) {
      current = frames[(f * 7) % frames.length]!;
      await ctx.stepFrame(ctx.frameInput(await model.encodeFrames([current])));
      if (f === 2 || f === 6) await ctx.generate([...model.prompts.commentary], model.prompts.afterLine('commentary'));
      if (f === 4) await ctx.generate(model.prompts.question('what is happening right now?', limits.maxStepTokens), model.prompts.afterLine('answer'));
    }

    // the runtime did evict, kept its sinks, and fed "," only between frames
    const sinks = model.prompts.start.length;
    const last = steps.at(-1)!;
    expect(last.kept.slice(0, sinks)).toEqual([...Array(sinks).keys()]);
    const fedBefore = steps.slice(0, -1).reduce((a, s) => a + (s.kind === 'text' ? s.ids.length : s.prefix.length + V), 0);
    expect(last.kept.length).toBeLessThan(fedBefore - 20); // frames (and the text before them) left the window
    const frameSteps = steps.filter((s) => s.kind === 'frame');
    expect(frameSteps[0]!.prefix).toEqual([]);
    expect(frameSteps[1]!.prefix).toEqual([manifest.tokens.silent]);

    const dir = path.dirname(tiny.pkg);
    writeFileSync(path.join(dir, 'trace.json'), JSON.stringify({ steps }));
    const r = spawnSync(PYTHON, ['-m', 'kibitz_models.cli', 'videollm-reference', '--checkpoint', tiny.checkpoint, '--trace', path.join(dir, 'trace.json'), '--out', path.join(dir, 'reference.json')], {
      encoding: 'utf8', env: { ...process.env, PYTHONPATH: 'models' }, timeout: 300_000,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`.slice(-3000)).toBe(0);
    const ref = JSON.parse(readFileSync(path.join(dir, 'reference.json'), 'utf8')) as { logits: number[][] };
    expect(ref.logits).toHaveLength(logits.length);
    let worst = 0;
    ref.logits.forEach((want, i) => want.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - logits[i]![j]!)))));
    console.log(`videollm parity: ${steps.length} steps (${frameSteps.length} frames), ${last.kept.length} tokens kept at the end, max |logit diff| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-3);
  }, 300_000);
});

/** The vocabulary row an embedding came from (the runtime copies rows exactly); -1 for a vision token. */
function rowId(model: Model, row: Float32Array): number {
  const d = model.manifest.decoder.dModel;
  const table = model.pkg.embedTokens;
  for (let id = 0; id < model.manifest.decoder.vocab; id++) {
    let same = true;
    for (let i = 0; i < d && same; i++) same = table[id * d + i] === row[i];
    if (same) return id;
  }
  return -1;
}
