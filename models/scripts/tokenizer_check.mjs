// Encode/decode sample strings with @huggingface/tokenizers; prints JSON lines for comparison.
// usage: node models/scripts/tokenizer_check.mjs <tokenizer.json> "text" ...
import fs from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';

const tok = new Tokenizer(JSON.parse(fs.readFileSync(process.argv[2], 'utf8')), {});
for (const text of process.argv.slice(3)) {
  const ids = tok.encode(text, { add_special_tokens: false }).ids;
  console.log(JSON.stringify({ text, ids, decoded: tok.decode(ids, { skip_special_tokens: true }) }));
}
