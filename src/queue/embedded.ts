import type { KibitzApp } from '../app.ts';
import { ModelEngine, type EngineOptions } from '../model/engine.ts';
import { Model } from '../model/model.ts';

/**
 * The embedded default: the model runs in this process. Every stream session's frames go to
 * one ModelEngine, which is also the app's Brain (ask/summary). Returns once the model is loaded.
 */
export async function startEmbeddedModel(app: KibitzApp, overrides: Partial<EngineOptions> = {}): Promise<ModelEngine> {
  const { config } = app;
  const log = app.log.child({ part: 'model' });
  if (!config.model.package) throw new Error('model.package is not set: point it at a model package folder (models/kibitz-demo)');
  const model = await Model.load({
    packageDir: config.model.package,
    provider: config.model.provider,
    onFallback: (message) => log.warn(message),
  });
  const thresholds: Record<string, number> = {};
  for (const s of config.streams) if (s.threshold !== undefined) thresholds[s.name] = s.threshold;
  const engine = new ModelEngine(model, app.bus, log, { threshold: config.model.threshold, thresholds, ...overrides });

  const stopConsuming = app.onSession((session) => {
    engine.consume(session.name, session.frames(session.endSignal), session.endSignal).catch((err: unknown) => {
      log.error({ err, stream: session.name }, 'model stopped consuming frames');
    });
  });
  // Sessions that began while the model was loading.
  for (const s of app.sessions.list()) {
    if (s.state !== 'ended') {
      try {
        engine.consume(s.name, s.frames(s.endSignal), s.endSignal).catch((err: unknown) => log.error({ err, stream: s.name }, 'model stopped consuming frames'));
      } catch (err) {
        log.warn({ err, stream: s.name }, 'could not attach the model to a running stream');
      }
    }
  }
  app.attachBrain(engine);
  app.setStreamInfo((name) => {
    const st = engine.stats(name);
    return st && { model: { framesProcessed: st.framesProcessed, framesSkipped: st.framesSkipped, lines: st.lines, answers: st.answers, lastStepMs: round(st.lastStepMs), decisionLatencyMs: round(st.lastDecisionLatencyMs) } };
  });
  app.onClose(async () => {
    stopConsuming();
    app.attachBrain(undefined);
    app.setStreamInfo(undefined);
    await engine.close();
    await model.close();
  });
  const m = model.manifest;
  log.info(`model ${m.name} loaded on ${model.sessions.provider}: ${m.vision.tokensPerFrame} vision tokens/frame, MoD keep ${m.decoder.keepRatio} on layers ${m.decoder.routedLayers.join(',')}`);
  return engine;
}

const round = (x: number) => Math.round(x * 10) / 10;
