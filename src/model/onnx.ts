import * as ort from 'onnxruntime-node';
import { ModelPackageError, type Manifest, type ModelPackage } from './manifest.ts';
import type { Provider } from './provider.ts';
import { resolveThreading, type Threading } from './threading.ts';

export type { Provider };

/** The three graphs of a package, loaded once per process and shared by every stream. */
export interface ModelSessions {
  vision: ort.InferenceSession;
  frame: ort.InferenceSession;
  text: ort.InferenceSession;
  /** The in-world score (world.onnx), when the package has one; always on the CPU (a few kFLOP a frame). */
  world?: ort.InferenceSession;
  /** The provider actually in use after any fallback. */
  provider: Provider;
}

export interface SessionOptions {
  provider: Provider;
  /** CPU threads (threading.ts); omitted = resolveThreading()'s defaults for this machine. */
  threading?: Threading;
  /** Called once when the requested provider is unavailable and the CPU is used instead. */
  onFallback?: (message: string) => void;
}

export function perLayerNames(m: Manifest, kind: 'past' | 'new'): string[] {
  const out: string[] = [];
  for (let l = 0; l < m.decoder.layers; l++) {
    if (kind === 'past') out.push(`past_key.${l}`, `past_value.${l}`, `past_pos.${l}`, `past_valid.${l}`);
    else out.push(`new_key.${l}`, `new_value.${l}`);
  }
  return out;
}

/** What each graph must accept and return, from the manifest (models/CONTRACT.md). */
export function expectedIo(m: Manifest): Record<'vision' | 'frame' | 'text', { inputs: string[]; outputs: string[] }> {
  const routedIndex = m.decoder.routedLayers.map((l) => `new_index.${l}`);
  return {
    vision: { inputs: ['frames'], outputs: ['vision_embeds'] },
    frame: { inputs: ['inputs_embeds', 'positions', ...perLayerNames(m, 'past')], outputs: ['logits', ...perLayerNames(m, 'new'), ...routedIndex] },
    text: { inputs: ['inputs_embeds', 'positions', ...perLayerNames(m, 'past')], outputs: ['logits', ...perLayerNames(m, 'new')] },
  };
}

function checkIo(name: string, file: string, session: ort.InferenceSession, want: { inputs: string[]; outputs: string[] }): void {
  const missingIn = want.inputs.filter((n) => !session.inputNames.includes(n));
  const missingOut = want.outputs.filter((n) => !session.outputNames.includes(n));
  if (missingIn.length || missingOut.length) {
    throw new ModelPackageError(
      `${file} does not match manifest.json (${name} graph): ` +
        (missingIn.length ? `missing inputs ${missingIn.join(', ')}; ` : '') +
        (missingOut.length ? `missing outputs ${missingOut.join(', ')}; ` : '') +
        `it has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]. Re-export the package.`,
    );
  }
}

async function create(file: string, opts: SessionOptions, provider: Provider): Promise<ort.InferenceSession> {
  const t = opts.threading ?? resolveThreading({}, provider);
  const spin = t.spinning ? '1' : '0';
  const o: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: t.intraOp,
    interOpNumThreads: t.interOp,
    extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
  };
  return ort.InferenceSession.create(file, o);
}

async function createAll(pkg: ModelPackage, opts: SessionOptions, provider: Provider): Promise<ModelSessions> {
  // A package whose frame graph runs text steps too is opened once: each session holds its own
  // copy of the weights (measured: 2.8 GB per session for one Llama-3-8B-width layer and lm_head).
  const oneDecoder = pkg.manifest.decoder.frameGraphRunsText === true;
  const [vision, frame, text] = await Promise.all([
    create(pkg.file('vision.onnx'), opts, provider),
    create(pkg.file('decoder_frame.onnx'), opts, provider),
    oneDecoder ? null : create(pkg.file('decoder_text.onnx'), opts, provider),
  ]);
  return { vision, frame, text: text ?? frame, provider };
}

async function createWorld(pkg: ModelPackage): Promise<ort.InferenceSession | undefined> {
  const w = pkg.manifest.world;
  if (!w) return undefined;
  const file = pkg.file('world.onnx');
  const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'], intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
  checkIo('world', file, session, { inputs: [w.input], outputs: [w.output] });
  return session;
}

/** Loads the graphs on the requested provider, falling back to CPU with a clear message. */
export async function loadSessions(pkg: ModelPackage, opts: SessionOptions): Promise<ModelSessions> {
  let sessions: ModelSessions;
  if (opts.provider === 'cpu') {
    sessions = await createAll(pkg, opts, 'cpu');
  } else {
    try {
      sessions = await createAll(pkg, opts, opts.provider);
    } catch (err) {
      opts.onFallback?.(
        `execution provider '${opts.provider}' is not available here (${(err as Error).message.split('\n')[0]}); running the model on the CPU instead. ` +
          `Set model.provider: cpu to silence this, or install the ${opts.provider === 'cuda' ? 'CUDA provider libraries' : 'Vulkan driver'} for onnxruntime-node.`,
      );
      sessions = await createAll(pkg, opts, 'cpu');
    }
  }
  const io = expectedIo(pkg.manifest);
  checkIo('vision', pkg.file('vision.onnx'), sessions.vision, io.vision);
  checkIo('decoder_frame', pkg.file('decoder_frame.onnx'), sessions.frame, io.frame);
  if (sessions.text !== sessions.frame) checkIo('decoder_text', pkg.file('decoder_text.onnx'), sessions.text, io.text);
  sessions.world = await createWorld(pkg);
  return sessions;
}

export async function releaseSessions(s: ModelSessions): Promise<void> {
  const all = new Set([s.vision, s.frame, s.text, s.world].filter((x): x is ort.InferenceSession => x !== undefined));
  await Promise.allSettled([...all].map((x) => x.release()));
}
