import { definePlugin, startBot } from '../../src/plugins/sdk.ts';
import { DiscordBot } from './bot.ts';
import { discordOptions, discordRoute } from './options.ts';

export const discordPlugin = definePlugin({
  name: 'discord',
  options: discordOptions,
  route: discordRoute,
  setup: (ctx) => startBot(new DiscordBot(ctx)),
});

export default discordPlugin;
