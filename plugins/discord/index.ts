import { discordOptions } from './options.ts';
import { definePlugin } from '../../src/plugins/types.ts';
import { DiscordBot } from './bot.ts';
import { startBot } from '../../src/plugins/bot.ts';

export const discordPlugin = definePlugin({
  name: 'discord',
  options: discordOptions,
  setup: (ctx) => startBot(new DiscordBot(ctx)),
});

export default discordPlugin;
