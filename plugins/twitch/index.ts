import { definePlugin, startBot } from '../../src/plugins/sdk.ts';
import { twitchOptions, twitchRoute } from './options.ts';

/**
 * The declaration (name, options, route) is all that reading the config needs; @twurple/chat
 * comes in with bot.ts when the plugin is set up, so `kibitz worker` and `kibitz push` never load it.
 */
export const twitchPlugin = definePlugin({
  name: 'twitch',
  options: twitchOptions,
  route: twitchRoute,
  setup: async (ctx) => {
    const { TwitchBot } = await import('./bot.ts');
    return startBot(new TwitchBot(ctx));
  },
});

export default twitchPlugin;
