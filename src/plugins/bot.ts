import type { Teardown } from './types.ts';

/** A chat client a plugin runs (Discord, Twitch). */
export interface ChatBot {
  start(): Promise<void>;
  stop(): void | Promise<void>;
}

/**
 * Starts a chat client for a plugin's setup. The host only tears down what setup returned, so a
 * client that fails half-way through starting is stopped here before the error goes on (the host
 * then retries the setup with backoff).
 */
export async function startBot(bot: ChatBot): Promise<Teardown> {
  try {
    await bot.start();
  } catch (err) {
    await bot.stop();
    throw err;
  }
  return () => bot.stop();
}
