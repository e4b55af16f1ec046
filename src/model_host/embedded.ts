import type { ModelEngine, EngineOptions } from '../model/engine.ts';
import { Model } from '../model/model.ts';
import type { StreamSession } from '../stream/session.ts';
import { engineFor } from './engine_for.ts';
import { LateBrain } from './late_brain.ts';
import type { HostParts, ModelHost } from './port.ts';

/** The embedded host once started: the loaded model and the engine every stream shares. */
export interface EmbeddedModel {
  readonly model: Model;
  readonly engine: ModelEngine;
}

export interface EmbeddedModelHost extends ModelHost {
  /** The engine, once `start` has resolved (the demo and tests read its stats and latencies). */
  readonly engine: ModelEngine | undefined;
  readonly model: Model | undefined;
}

/**
 * The default host: the model runs in this process. Every stream session's frames go to one
 * ModelEngine, which is also the brain (ask/summary). `start` returns once the model is loaded;
 * questions asked before then get NO_MODEL.
 */
export function embeddedModelHost(overrides: Partial<EngineOptions> = {}): EmbeddedModelHost {
  const brain = new LateBrain('the model is still loading; try again in a moment');
  let loaded: (EmbeddedModel & { parts: HostParts }) | undefined;
  let closing: Promise<void> | undefined;
  return {
    brain,
    get engine() {
      return loaded?.engine;
    },
    get model() {
      return loaded?.model;
    },
    async start(parts) {
      if (loaded) throw new Error('the embedded model host is already started');
      const log = parts.log.child({ part: 'model' });
      const model = await Model.fromConfig(parts.config.model, log);
      let engine: ModelEngine;
      try {
        engine = engineFor(model, parts.bus, log, parts.config, overrides);
      } catch (err) {
        await model.close();
        throw err;
      }
      loaded = { model, engine, parts };
      brain.serve(engine);
      parts.metrics.addModelStats(() => engine.allStats());
      log.info(describeModel(model));
    },
    consume(session: StreamSession) {
      if (!loaded) throw new Error('the embedded model host takes sessions only after start()');
      const { engine, parts } = loaded;
      try {
        engine.consume(session.name, session.frames(session.endSignal), session.endSignal).catch((err: unknown) => {
          parts.log.error({ err, stream: session.name }, 'model stopped consuming frames');
        });
      } catch (err) {
        parts.log.warn({ err, stream: session.name }, 'could not attach the model to the stream');
      }
    },
    streamInfo(name) {
      const st = loaded?.engine.stats(name);
      return st && { model: { framesProcessed: st.framesProcessed, framesSkipped: st.framesSkipped, lines: st.lines, answers: st.answers, lastStepMs: round(st.lastStepMs), decisionLatencyMs: round(st.lastDecisionLatencyMs), framesOutOfWorld: st.framesOutOfWorld, inWorldScore: round(st.inWorldScore * 10) / 10, linesDropped: st.linesDropped, tokensFed: st.tokensFed, tokensSkipped: st.tokensSkipped } };
    },
    close() {
      closing ??= (async () => {
        brain.serve(undefined);
        if (!loaded) return;
        await loaded.engine.close();
        await loaded.model.close();
      })();
      return closing;
    },
  };
}

/** The startup line: what was loaded, where, and how it routes. */
function describeModel(model: Model): string {
  const m = model.manifest;
  const th = model.threading;
  return `model ${m.name} loaded on ${model.sessions.provider} (${th.intraOp} intra-op thread${th.intraOp === 1 ? '' : 's'}, spinning ${th.spinning ? 'on' : 'off'}; model.threads): ${m.vision.tokensPerFrame} vision tokens/frame, ${m.decoder.routedLayers.length ? `MoD keep ${m.decoder.keepRatio} on layers ${m.decoder.routedLayers.join(',')}` : 'dense (no MoD routers)'}${m.kind === 'general' ? `, general model (${m.decoder.layers} layers, d ${m.decoder.dModel})` : ''}${model.knowsItsWorld ? `, in-world score threshold ${m.world!.threshold}` : ''}`;
}

const round = (x: number) => Math.round(x * 10) / 10;
