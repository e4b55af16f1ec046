/**
 * Two packages with the same weights, streamed alike: the same random frames through both
 * (with cache evictions), a commentary line generated every 6 frames. Prints the largest
 * difference in P(silent) and line log-probability, and how many lines came out identical.
 * For graph rewrites (`cli regraph`): the new graphs must stream exactly as the old ones.
 *
 *   npx tsx models/scripts/stream_equal.ts OLD_PACKAGE NEW_PACKAGE
 */
import { cacheLimitsFor } from '../../src/model/engine.ts';
import { Model } from '../../src/model/model.ts';
import { StreamContext } from '../../src/model/stream_context.ts';
const [a, b] = process.argv.slice(2);
const ms = await Promise.all([a!, b!].map((d) => Model.load({ packageDir: d, provider: 'cpu', threading: { intraOp: 1 } })));
const ctxs = ms.map((m) => new StreamContext('s', m, { limits: cacheLimitsFor(m), maxResponseTokens: 16 }));
let seed = 7; const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
let maxP = 0, lines = 0, same = 0;
const tok = ms[0]!.manifest.tokens;
for (let f = 0; f < 90; f++) {
  const frame = new Uint8Array(ms[0]!.frameBytes).map(() => Math.floor(rnd() * 256));
  const p = [];
  for (let k = 0; k < 2; k++) { const e = await ms[k]!.encodeFrames([frame]); p.push(await ctxs[k]!.stepFrame(e)); }
  maxP = Math.max(maxP, Math.abs(p[0]! - p[1]!));
  if (f % 6 === 5) {
    const g = await Promise.all(ctxs.map((c) => c.generate([tok.commentary])));
    lines++; if (JSON.stringify(g[0]!.ids) === JSON.stringify(g[1]!.ids)) same++;
    maxP = Math.max(maxP, Math.abs(g[0]!.meanLogprob - g[1]!.meanLogprob));
  }
}
console.log(`${a} vs ${b}: max |dP(silent)|, |d line logprob| ${maxP.toExponential(2)}; identical lines ${same}/${lines}`);
