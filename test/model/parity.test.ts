import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

/** onnxruntime-node (as the runtime feeds it) against the toolkit's PyTorch reference outputs. */
const PKG = 'models/kibitz-demo';
/** Stated tolerance: float32 CPU kernels vs PyTorch differ by ~1e-6; 1e-4 leaves margin, and a wrong graph is off by >1e-2. */
const TOLERANCE = 1e-4;

interface FixtureTensor { dtype: 'float32' | 'int64' | 'bool' | 'uint8'; shape: number[]; data_b64: string }

function tensor(t: FixtureTensor): ort.Tensor {
  const buf = Buffer.from(t.data_b64, 'base64');
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const data = t.dtype === 'float32' ? new Float32Array(ab) : t.dtype === 'int64' ? new BigInt64Array(ab) : new Uint8Array(ab);
  // bool as one byte per element, exactly how the KV cache hands `past_valid` to onnxruntime
  return new ort.Tensor(t.dtype, data, t.shape);
}

describe('model package parity (onnxruntime-node vs PyTorch fixtures)', () => {
  // clock.json (a fixture of the stream-clock experiment, which the runtime no longer reads) has no graph
  for (const file of readdirSync(join(PKG, 'fixtures')).filter((f) => f.endsWith('.json') && f !== 'clock.json')) {
    it(`${file} matches within ${TOLERANCE}`, async () => {
      const fx = JSON.parse(readFileSync(join(PKG, 'fixtures', file), 'utf8')) as { graph: string; inputs: Record<string, FixtureTensor>; outputs: Record<string, FixtureTensor> };
      const session = await ort.InferenceSession.create(join(PKG, fx.graph));
      const feeds: Record<string, ort.Tensor> = {};
      for (const n of session.inputNames) feeds[n] = tensor(fx.inputs[n]!);
      const out = await session.run(feeds);
      let worst = 0;
      for (const [name, ref] of Object.entries(fx.outputs)) {
        const got = out[name]!;
        expect(got.dims.map(Number), name).toEqual(ref.shape);
        const want = tensor(ref).data as ArrayLike<number | bigint>;
        const have = got.data as ArrayLike<number | bigint>;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(Number(want[i]) - Number(have[i])));
      }
      expect(worst).toBeLessThanOrEqual(TOLERANCE);
      await session.release();
    });
  }
});
