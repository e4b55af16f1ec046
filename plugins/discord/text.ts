import { cleanOutgoing, type ChatTexts } from '../../src/plugins/sdk.ts';

/**
 * Make every mention inert (belt and braces with allowedMentions { parse: [] }, which alone
 * still renders a blue @everyone): @everyone/@here get a zero-width joiner after the @,
 * user/role/channel mentions lose their brackets' meaning the same way.
 */
export function neutraliseDiscordMentions(text: string): string {
  return text
    .replace(/@(everyone|here)/gi, '@\u200b$1')
    .replace(/<(@[!&]?|#)(\d+)>/g, (_m, kind: string, id: string) => `<${kind}\u200b${id}>`);
}

/** Model or viewer text made safe for a Discord message: no commands, no live mentions. */
export function discordText(text: string): string {
  return neutraliseDiscordMentions(cleanOutgoing(text));
}

/** What kibitz says in Discord channels (slash-command replies are in bot.ts). */
export const discordTexts: ChatTexts = {
  answer: (users, answer) => `**${users.join(', ')}**: ${answer}`,
  summary: (user, r) => `**${user}**: last ${r.minutes} min: ${r.summary}`,
  refusal: (user, message) => `**${user}**: ${message}`,
  relayedAnswer: (ev) => `**${ev.user ?? 'someone'}** asked “${ev.question ?? ''}”: ${ev.text}`,
  status: (ev) => `Stream ${ev.stream} is ${ev.status ?? 'updated'}${ev.text ? `: ${ev.text}` : ''}`,
  endSummary: (stream, r) => `Stream ${stream} ended. Last ${r.minutes} min: ${r.summary}`,
};
