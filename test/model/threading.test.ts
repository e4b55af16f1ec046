import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { Model } from '../../src/model/model.ts';
import { resolveThreading } from '../../src/model/threading.ts';

describe('model threading', () => {
  it('fits the machine by default and takes overrides', () => {
    expect(resolveThreading({}, 'cpu', 2)).toEqual({ intraOp: 1, interOp: 1, spinning: false });
    expect(resolveThreading({}, 'cpu', 16)).toEqual({ intraOp: 4, interOp: 1, spinning: false });
    expect(resolveThreading({}, 'cuda', 16).intraOp).toBe(1);
    expect(resolveThreading({ intraOp: 3, spinning: true }, 'cpu', 2)).toEqual({ intraOp: 3, interOp: 1, spinning: true });
  });

  it('is validated in the config (env strings too) and applied to the sessions', async () => {
    const cfg = loadConfig({ noDefault: true, env: { KIBITZ_MODEL_THREADS_INTRA_OP: '2', KIBITZ_MODEL_THREADS_SPINNING: 'true' }, overrides: { streams: [{ name: 'a', key: 'k' }] } });
    expect(cfg.model.threads).toEqual({ intraOp: 2, interOp: 'auto', spinning: true });
    expect(() => loadConfig({ noDefault: true, env: {}, overrides: { streams: [{ name: 'a', key: 'k' }], model: { threads: { intraOp: 0 } } } })).toThrow(/model\.threads\.intraOp/);
    const model = await Model.fromConfig({ package: 'models/kibitz-demo', provider: 'cpu', threads: cfg.model.threads }, console);
    try {
      expect(model.threading).toEqual({ intraOp: 2, interOp: 1, spinning: true });
      const e = await model.encodeFrames([new Uint8Array(model.frameBytes)]);
      expect(e.length).toBe(model.manifest.vision.tokensPerFrame * model.manifest.decoder.dModel);
    } finally {
      await model.close();
    }
  });
});
