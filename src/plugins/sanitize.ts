/**
 * Text hygiene for untrusted input (viewers' questions) and for model text going out to chats.
 * Pure functions, no I/O.
 */

// C0/C1 controls (keeping none: questions are one line), bidi overrides and isolates, zero-widths
// used to hide text, and the BOM.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]/g;
// Chat-template markers a question could use to pose as a system or assistant turn.
const TEMPLATE_MARKERS = /<\|[^|>]{0,40}\|>|<\/?(?:s|system|assistant|user)>/gi;

export const DEFAULT_MAX_QUESTION_CHARS = 300;

/** Question text as the model will see it: one line, no controls, no template markers, capped. */
export function cleanQuestion(raw: string, maxChars = DEFAULT_MAX_QUESTION_CHARS): string {
  let s = raw.replace(CONTROL, ' ').replace(TEMPLATE_MARKERS, ' ').replace(/\s+/g, ' ').trim();
  // Leading command characters: a question must never read as a command to the bot or another bot.
  s = s.replace(/^[!/.\\]+\s*/, '');
  if (s.length > maxChars) s = s.slice(0, maxChars - 1).trimEnd() + '…';
  return s;
}

/** Key under which identical questions are coalesced. */
export function questionKey(stream: string, cleaned: string): string {
  return stream + '\u0000' + cleaned.toLowerCase().replace(/[\s?!.,;:]+/g, ' ').trim();
}

/**
 * Model text for a chat line: controls to spaces, and no leading command prefix (Twitch runs
 * "/ban" and ".timeout"; other bots react to "!"), so the model can never issue a command.
 */
export function cleanOutgoing(text: string): string {
  let s = text.replace(/\r\n?/g, '\n').replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, ' ');
  s = s.replace(/[ \t]+/g, ' ').trim();
  while (/^[!/.\\]/.test(s)) s = s.slice(1).trimStart();
  return s;
}

/** One-line variant for IRC (newlines would end the message or inject a second command). */
export function oneLine(text: string): string {
  return cleanOutgoing(text).replace(/\s*\n+\s*/g, ' ').trim();
}

/**
 * Discord: make every mention inert (belt and braces with allowedMentions { parse: [] }, which
 * alone still renders a blue @everyone): @everyone/@here get a zero-width joiner after the @,
 * user/role/channel mentions lose their brackets' meaning the same way.
 */
export function neutraliseDiscordMentions(text: string): string {
  return text
    .replace(/@(everyone|here)/gi, '@\u200b$1')
    .replace(/<(@[!&]?|#)(\d+)>/g, (_m, kind: string, id: string) => `<${kind}\u200b${id}>`);
}

/** Split into chunks of at most `max` characters, preferring newlines, then spaces. */
export function splitText(text: string, max: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > max) {
    let cut = rest.lastIndexOf('\n', max);
    if (cut < max / 2) cut = rest.lastIndexOf(' ', max);
    if (cut < max / 2) cut = max;
    out.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length > 0) out.push(rest);
  return out;
}
