/**
 * Text hygiene for model text going out to chats. Pure functions, no I/O. (Questions coming in
 * are cleaned by the question policy, src/questions/policy.ts.)
 */

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
