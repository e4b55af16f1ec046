import type { KibitzApp } from '../app.ts';
import type { StreamSession } from '../stream/session.ts';
import { engineOptionsFromConfig, ModelEngine, type EngineOptions } from './engine.ts';
import { Model } from './model.ts';

/**
 * The embedded default: the model runs in this process. Every stream session's frames go to
 * one ModelEngine, which is also the app's Brain (ask/summary). Returns once the model is loaded.
 */
export async function startEmbeddedModel(app: KibitzApp, overrides: Partial<EngineOptions> = {}): Promise<ModelEngine> {
  const { config } = app;
  const log = app.log.child({ part: 'model' });
  const model = await Model.fromConfig(config.model, log);
  const engine = new ModelEngine(model, app.bus, log, { ...engineOptionsFromConfig(config), ...overrides });

  const attach = (session: StreamSession) => {
    try {
      engine.consume(session.name, session.frames(session.endSignal), session.endSignal).catch((err: unknown) => {
        log.error({ err, stream: session.name }, 'model stopped consuming frames');
      });
    } catch (err) {
      log.warn({ err, stream: session.name }, 'could not attach the model to the stream');
    }
  };
  const stopConsuming = app.onSession(attach);
  // Sessions that began while the model was loading.
  for (const s of app.sessions.list()) if (s.state !== 'ended') attach(s);
  app.attachBrain(engine);
  app.metrics.addModelStats(() => engine.allStats());
  app.setStreamInfo((name) => {
    const st = engine.stats(name);
    return st && { model: { framesProcessed: st.framesProcessed, framesSkipped: st.framesSkipped, lines: st.lines, answers: st.answers, lastStepMs: round(st.lastStepMs), decisionLatencyMs: round(st.lastDecisionLatencyMs), framesOutOfWorld: st.framesOutOfWorld, inWorldScore: round(st.inWorldScore * 10) / 10, linesDropped: st.linesDropped, tokensFed: st.tokensFed, tokensSkipped: st.tokensSkipped } };
  });
  app.onClose(async () => {
    stopConsuming();
    app.attachBrain(undefined);
    app.setStreamInfo(undefined);
    await engine.close();
    await model.close();
  });
  const m = model.manifest;
  const th = model.threading;
  log.info(`model ${m.name} loaded on ${model.sessions.provider} (${th.intraOp} intra-op thread${th.intraOp === 1 ? '' : 's'}, spinning ${th.spinning ? 'on' : 'off'}; model.threads): ${m.vision.tokensPerFrame} vision tokens/frame, ${m.decoder.routedLayers.length ? `MoD keep ${m.decoder.keepRatio} on layers ${m.decoder.routedLayers.join(',')}` : 'dense (no MoD routers)'}${m.kind === 'general' ? `, general model (${m.decoder.layers} layers, d ${m.decoder.dModel})` : ''}${model.knowsItsWorld ? `, in-world score threshold ${m.world!.threshold}` : ''}`);
  return engine;
}

const round = (x: number) => Math.round(x * 10) / 10;
