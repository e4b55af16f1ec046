import { definePlugin, startBot } from '../../src/plugins/sdk.ts';
import { discordOptions, discordRoute } from './options.ts';

/**
 * The declaration (name, options, route) is all that reading the config needs; discord.js comes
 * in with bot.ts when the plugin is set up, so `kibitz worker` and `kibitz push` never load it.
 */
export const discordPlugin = definePlugin({
  name: 'discord',
  options: discordOptions,
  route: discordRoute,
  setup: async (ctx) => {
    const { DiscordBot } = await import('./bot.ts');
    return startBot(new DiscordBot(ctx));
  },
});

export default discordPlugin;
