import { definePlugin, startBot } from '../../src/plugins/sdk.ts';
import { TwitchBot } from './bot.ts';
import { twitchOptions, twitchRoute } from './options.ts';

export const twitchPlugin = definePlugin({
  name: 'twitch',
  options: twitchOptions,
  route: twitchRoute,
  setup: (ctx) => startBot(new TwitchBot(ctx)),
});

export default twitchPlugin;
