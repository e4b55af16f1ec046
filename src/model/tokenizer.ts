import { Tokenizer } from '@huggingface/tokenizers';
import { ModelPackageError, type ModelPackage } from './manifest.ts';

/**
 * Words <-> token ids through the package's Hugging Face tokenizer.json. Questions are untrusted
 * text: special tokens typed by a viewer are never honoured (their text is removed before
 * encoding). A closed package's small vocabulary also gets them lower-cased and stripped to what
 * it can express; a general package's (byte-level BPE) takes them as asked, every word kept.
 */
export class TextCodec {
  private readonly tok: Tokenizer;
  private readonly specialIds: Set<number>;
  private readonly specialText: string[];
  private readonly unkId: number | undefined;

  private readonly json: { model?: unknown };
  /** A general package's real tokenizer: text is kept as typed (manifest kind "general"). */
  private readonly openVocabulary: boolean;

  constructor(pkg: ModelPackage) {
    this.openVocabulary = pkg.manifest.kind === 'general';
    this.json = pkg.tokenizerJson as { model?: unknown };
    try {
      this.tok = new Tokenizer(pkg.tokenizerJson as object, {});
    } catch (err) {
      throw new ModelPackageError(`${pkg.file('tokenizer.json')} could not be loaded: ${(err as Error).message}`);
    }
    const added = ((pkg.tokenizerJson as { added_tokens?: { id: number; content: string; special?: boolean }[] }).added_tokens ?? [])
      .filter((t) => t.special !== false);
    this.specialIds = new Set(added.map((t) => t.id));
    this.specialText = added.map((t) => t.content).filter((s) => s.length > 0);
    const model = (pkg.tokenizerJson as { model?: { unk_token?: string; vocab?: Record<string, number> } }).model;
    this.unkId = model?.unk_token !== undefined ? model.vocab?.[model.unk_token] : undefined;
  }

  /**
   * Tokens generation may choose: real words plus `eos`. Placeholder (`<unused…>`) and control
   * tokens are masked, so even a weak model never prints them.
   */
  outputMask(vocab: number, eos: number): Uint8Array {
    const allowed = new Uint8Array(vocab).fill(1);
    const v = (this.json.model as { vocab?: Record<string, number> } | undefined)?.vocab ?? {};
    for (const [tok, id] of Object.entries(v)) if (id < vocab && /^<unused\d*>$|^\[unused\d*\]$/.test(tok)) allowed[id] = 0;
    for (const id of this.specialIds) if (id < vocab && id !== eos) allowed[id] = 0;
    if (this.unkId !== undefined && this.unkId < vocab) allowed[this.unkId] = 0;
    return allowed;
  }

  /** 1 for vocabulary entries that are digits (`7`, `##3`): a number's pieces may repeat. */
  digitMask(vocab: number): Uint8Array {
    const mask = new Uint8Array(vocab);
    const v = (this.json.model as { vocab?: Record<string, number> } | undefined)?.vocab ?? {};
    for (const [tok, id] of Object.entries(v)) if (id < vocab && /^(##)?\d+$/.test(tok)) mask[id] = 1;
    return mask;
  }

  /**
   * Viewer text made safe to put into a prompt: no special-token text (removed until none is
   * left, so pieces cannot join into one), whitespace collapsed. A closed package also lower-cases
   * it and keeps only letters, digits and `?'-` (what its vocabulary has).
   */
  cleanUntrusted(text: string): string {
    let clean = this.openVocabulary ? text : text.toLowerCase();
    for (let before = ''; before !== clean;) {
      before = clean;
      for (const s of this.specialText) clean = clean.split(this.openVocabulary ? s : s.toLowerCase()).join(' ');
    }
    if (!this.openVocabulary) clean = clean.replace(/[^\p{L}\p{N}\s?'-]/gu, ' ').replace(/\?/g, ' ? ');
    return clean.replace(/\s+/g, ' ').trim();
  }

  /** Encodes viewer text: no special tokens; a closed package drops unknown words (they carry nothing it knows). */
  encodeUntrusted(text: string): number[] {
    const clean = this.cleanUntrusted(text);
    if (clean.length === 0) return [];
    const ids = this.tok.encode(clean, { add_special_tokens: false }).ids;
    return ids.filter((id: number) => !this.specialIds.has(id) && id !== this.unkId);
  }

  /** Encodes the package's own prompt text: special-token text in it is honoured; nothing is added. */
  encodeTemplate(text: string): number[] {
    if (text.length === 0) return [];
    return [...this.tok.encode(text, { add_special_tokens: false }).ids];
  }

  decode(ids: number[]): string {
    if (ids.length === 0) return ''; // the library throws on an empty list; a model may say nothing
    // Byte-level tokens can end a capped line inside a character (U+FFFD) or spell control bytes:
    // neither belongs in a chat message or an overlay.
    return this.tok.decode(ids, { skip_special_tokens: true })
      .replace(/[\u0000-\u001f\u007f\ufffd]+/g, ' ')
      .replace(/\s+([?.,!])/g, '$1').replace(/\s+/g, ' ').trim();
  }
}
