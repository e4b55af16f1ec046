/**
 * The one surface of the core that plugins see (like fastify's scoped instance): every file under
 * plugins/ imports the core from here and nowhere else (test/plugins/sdk_surface.test.ts checks).
 * It sits in src/plugins/, beside the host it is the public face of, rather than at the top of
 * src/: what plugins may use and how the host runs them change together, in one folder.
 * It holds what plugins use, and the types in those signatures; add to it what a plugin needs,
 * never the host, the gate or the plugin catalogue.
 */

// Defining a plugin: its options, its route under each stream, the scoped context it gets.
export { definePlugin, type KibitzPlugin, type PluginContext, type PluginHttp, type PluginStream, type StreamStatus, type Teardown } from './types.ts';
export type { Asker, GateAnswer, GateSummary } from '../questions/gate.ts';
export { bool, list, num } from './zod.ts';
export { EVENT_KINDS, chatRouteSchema, type ChatRoute } from './chat_routes.ts';

// What plugins are told.
export { formatStreamTime, type EventKind, type KibitzEvent } from '../events.ts';
export { userMessage } from './errors.ts';

// Chat platforms: the shared command handling, and the pieces a transport uses.
export { ChatCommands, chatCommand, parseChatCommand, type ChatCommand, type ChatOptions, type ChatTexts, type ChatTransport } from './chat_commands.ts';
export { startBot, type ChatBot } from './bot.ts';
export { SlidingWindow } from './ratelimit.ts';
export { cleanOutgoing, oneLine, splitText } from './sanitize.ts';
export { sumCounters } from './counters.ts';
