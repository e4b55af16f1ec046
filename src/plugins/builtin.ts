import consolePlugin from '../../plugins/console/index.ts';
import discordPlugin from '../../plugins/discord/index.ts';
import overlayPlugin from '../../plugins/overlay/index.ts';
import twitchPlugin from '../../plugins/twitch/index.ts';
import webhookPlugin from '../../plugins/webhook/index.ts';
import type { KibitzPlugin } from './types.ts';

/** The plugins kibitz ships. Listed, not self-registered: a plugin runs when config names it. */
export const builtinPlugins: readonly KibitzPlugin<any, any>[] = [consolePlugin, overlayPlugin, webhookPlugin, discordPlugin, twitchPlugin];
