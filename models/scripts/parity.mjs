// Check an exported kibitz package with onnxruntime-node against the PyTorch fixtures.
// usage: node models/scripts/parity.mjs <package dir>   -> last stdout line is a JSON report
import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';

const dir = process.argv[2];
if (!dir) { console.error('usage: parity.mjs <package dir>'); process.exit(2); }

function decode(t) {
  const buf = Buffer.from(t.data_b64, 'base64');
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const data = t.dtype === 'float32' ? new Float32Array(ab)
    : t.dtype === 'int64' ? new BigInt64Array(ab)
    : t.dtype === 'bool' ? new Uint8Array(ab) : new Uint8Array(ab);
  return new ort.Tensor(t.dtype, t.dtype === 'bool' ? Array.from(data, (x) => x !== 0) : data, t.shape);
}

const report = { maxAbsDiff: 0, fixtures: {} };
let ok = true;
for (const f of fs.readdirSync(path.join(dir, 'fixtures')).sort()) {
  const fx = JSON.parse(fs.readFileSync(path.join(dir, 'fixtures', f), 'utf8'));
  if (fx.graph === null) continue; // not a graph (clock.json: checked by test/model/parity.test.ts through the runtime)
  const sess = await ort.InferenceSession.create(path.join(dir, fx.graph));
  const feeds = {};
  for (const n of sess.inputNames) {
    if (!fx.inputs[n]) throw new Error(`${f}: fixture lacks input ${n}`);
    feeds[n] = decode(fx.inputs[n]);
  }
  const out = await sess.run(feeds);
  let worst = 0;
  for (const [n, ref] of Object.entries(fx.outputs)) {
    const got = out[n];
    if (!got) { console.error(`${f}: graph has no output ${n}`); ok = false; continue; }
    if (JSON.stringify(got.dims.map(Number)) !== JSON.stringify(ref.shape)) {
      console.error(`${f}: ${n} shape ${got.dims} != ${ref.shape}`); ok = false; continue;
    }
    const want = decode(ref).data;
    let d = 0;
    for (let i = 0; i < want.length; i++) {
      const a = typeof want[i] === 'bigint' ? Number(want[i]) : Number(want[i]);
      const b = typeof got.data[i] === 'bigint' ? Number(got.data[i]) : Number(got.data[i]);
      d = Math.max(d, Math.abs(a - b));
    }
    if (!(d <= fx.tolerance)) { console.error(`${f}: ${n} max abs diff ${d} > ${fx.tolerance}`); ok = false; }
    worst = Math.max(worst, d);
  }
  report.fixtures[f] = worst;
  report.maxAbsDiff = Math.max(report.maxAbsDiff, worst);
}
console.log(JSON.stringify(report));
process.exit(ok ? 0 : 1);
