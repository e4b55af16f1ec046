import { ApplicationCommandOptionType, type ApplicationCommandDataResolvable } from 'discord.js';

/** Slash command definitions, registered per guild (instant, unlike global commands). */
export function commandDefinitions(streamNames: string[], maxQuestionChars: number, maxMinutes: number): ApplicationCommandDataResolvable[] {
  // With several streams a command may name one; choices keep it to configured names.
  const streamOption = streamNames.length > 1
    ? [{
        type: ApplicationCommandOptionType.String as const,
        name: 'stream',
        description: 'Which stream (defaults to the one this channel belongs to)',
        required: false,
        choices: streamNames.slice(0, 25).map((n) => ({ name: n, value: n })),
      }]
    : [];
  return [
    {
      name: 'ask',
      description: 'Ask kibitz about what is happening on stream',
      options: [
        { type: ApplicationCommandOptionType.String, name: 'question', description: 'Your question', required: true, max_length: maxQuestionChars },
        ...streamOption,
      ],
    },
    {
      name: 'summary',
      description: 'Summarise the last few minutes of the stream',
      options: [
        { type: ApplicationCommandOptionType.Integer, name: 'minutes', description: 'How many minutes (default 5)', required: false, min_value: 1, max_value: maxMinutes },
        ...streamOption,
      ],
    },
    {
      name: 'status',
      description: 'Is the stream live, and what has kibitz seen?',
      options: [...streamOption],
    },
    {
      name: 'help',
      description: 'What can I ask kibitz about this stream?',
      options: [...streamOption],
    },
  ];
}
