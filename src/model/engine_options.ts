import type { Config } from '../config/schema.ts';
import type { CacheLimits } from './kv_cache.ts';
import type { DropReason, LineGuardRules, LineKind } from './line_guard.ts';
import { frameStepTokens } from './manifest.ts';
import type { Model } from './model.ts';
import type { TemporalMode } from './temporal_drop.ts';
import type { WorldWatchOptions } from './world_watch.ts';

/** Options of the model engine; every field has a default in DEFAULT_ENGINE_OPTIONS. */
export interface EngineOptions {
  /** Respond when P(silent) < threshold; defaults to the manifest's decision.threshold. */
  threshold?: number;
  /** Per-stream overrides of the threshold, by stream name. */
  thresholds: Record<string, number>;
  /** Cache limits; sinkTokens and windowFrames default to the manifest's `cache` block. */
  limits: Partial<CacheLimits>;
  maxResponseTokens: number;
  /** Frames encoded together by the vision graph (across streams). */
  maxVisionBatch: number;
  askTimeoutMs: number;
  /** When a stream counts as outside / back inside the package's world; threshold from the manifest. */
  world: Partial<WorldWatchOptions>;
  /** Guard overrides (config); the rest comes from the manifest (line_guard.ts). */
  guards: Partial<Pick<LineGuardRules, 'repeatWindowMs' | 'minMeanLogprob'>>;
  /** The answer to every question while the stream shows something the model does not know. */
  honestAnswer: string;
  /** The temporal token drop: auto = as the package says (temporal_drop.ts temporalRuleFor). */
  temporal: TemporalMode;
  /** Sees every generated line with its guard verdict (calibration and benches; must not block). */
  observeLine?: (line: ObservedLine) => void;
}

export interface ObservedLine {
  stream: string;
  kind: LineKind;
  text: string;
  meanLogprob: number;
  tokens: number;
  streamTimeMs: number;
  /** Why it was not said; null when it was. */
  dropped: DropReason | null;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  thresholds: {},
  limits: { maxStepTokens: 64 },
  maxResponseTokens: 48,
  maxVisionBatch: 8,
  askTimeoutMs: 15_000,
  world: {},
  guards: {},
  temporal: 'auto',
  honestAnswer: "I can't see that in this stream: what is on screen is not something this model knows.",
};

/** The engine options the config sets: the decision threshold and its per-stream overrides, the temporal drop. */
export function engineOptionsFromConfig(config: Pick<Config, 'model' | 'streams'>): Partial<EngineOptions> {
  const thresholds: Record<string, number> = {};
  for (const s of config.streams) if (s.threshold !== undefined) thresholds[s.name] = s.threshold;
  return { threshold: config.model.threshold, thresholds, temporal: config.model.temporal };
}

/**
 * Cache limits for a model: the manifest's sinks, window and text tokens, within the positions the
 * model was trained on (contiguous positions stay below maxPositions).
 */
export function cacheLimitsFor(model: Model, wanted: Partial<CacheLimits> = {}): CacheLimits {
  const m = model.manifest;
  const c = m.cache ?? {};
  // A general package's sinks are its start prompt (system prompt and all), as in StreamingLLM.
  const sinkTokens = wanted.sinkTokens ?? c.sinkTokens ?? (m.prompt ? model.prompts.start.length : 8);
  const windowFrames = wanted.windowFrames ?? c.windowFrames ?? 120;
  const maxStepTokens = wanted.maxStepTokens ?? 64;
  const V = frameStepTokens(m);
  const room = (m.decoder.maxPositions ?? Infinity) - sinkTokens - windowFrames * V - maxStepTokens - V;
  // Text slots: what the model saw in training (manifest), else 512. Every slot costs attention
  // work on every step, used or not, so a budget far above what the model was trained with only
  // slows each frame (and a dense layer more than a routed one).
  const textBudget = Math.max(0, Math.min(wanted.textBudget ?? c.textTokens ?? 512, room));
  return { sinkTokens, windowFrames, textBudget, maxStepTokens };
}
