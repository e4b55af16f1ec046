import { twitchOptions } from './options.ts';
import { definePlugin } from '../../src/plugins/types.ts';
import { TwitchBot } from './bot.ts';
import { startBot } from '../../src/plugins/bot.ts';

export const twitchPlugin = definePlugin({
  name: 'twitch',
  options: twitchOptions,
  setup: (ctx) => startBot(new TwitchBot(ctx)),
});

export default twitchPlugin;
