import {
  Client, Events, GatewayIntentBits, MessageFlags,
  type ChatInputCommandInteraction, type Guild, type Message, type MessageCreateOptions, type SendableChannels,
} from 'discord.js';
import { ChatCommands, parseChatCommand, SlidingWindow, splitText, userMessage, type ChatTransport, type PluginContext } from '../../src/plugins/sdk.ts';
import { commandDefinitions } from './commands.ts';
import type { DiscordOptions, DiscordRoute } from './options.ts';
import { discordText, discordTexts } from './text.ts';

const MAX_MESSAGE = 2000;
/** Room left for "(+N more)" and "**a, b**: " prefixes before the final split. */
const MAX_LINE = 1900;
const NO_MENTIONS = { parse: [] as never[], repliedUser: false };

/** Discord's side of a chat: the gateway connection, slash commands, and posting to channels. */
export class DiscordBot implements ChatTransport<DiscordRoute> {
  private readonly client: Client;
  private readonly chat: ChatCommands<DiscordRoute>;
  readonly texts = discordTexts;

  constructor(private readonly ctx: PluginContext<DiscordOptions, DiscordRoute>) {
    const o = ctx.options;
    const intents = [GatewayIntentBits.Guilds];
    if (o.messageCommands) intents.push(GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent);
    this.client = new Client({
      intents,
      rest: { api: o.apiBase.replace(/\/+$/, '') },
      // The default for every message the client builds; each send also passes it explicitly.
      allowedMentions: NO_MENTIONS,
    });
    this.chat = new ChatCommands(ctx, this);
  }

  async start(): Promise<void> {
    const { client, ctx } = this;
    client.on(Events.Error, (err) => ctx.log.error({ err }, 'discord client error'));
    client.on(Events.ShardError, (err) => ctx.log.warn({ err }, 'discord gateway error'));
    client.on(Events.Invalidated, () => ctx.fail(new Error('discord session invalidated')));
    client.on(Events.GuildCreate, (g) => void this.registerCommands(g));
    client.on(Events.InteractionCreate, (i) => {
      if (i.isChatInputCommand()) void this.onCommand(i);
    });
    if (ctx.options.messageCommands) client.on(Events.MessageCreate, (m) => this.onMessage(m));

    const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`discord: not ready within ${ctx.options.connectTimeoutMs} ms (${ctx.options.apiBase})`)), ctx.options.connectTimeoutMs);
      ctx.signal.addEventListener('abort', () => reject(new Error('discord: stopped while connecting')), { once: true });
    });
    try {
      await Promise.race([client.login(ctx.options.token).then(() => ready), timeout]);
    } finally {
      clearTimeout(timer);
    }
    await Promise.all(client.guilds.cache.map((g) => this.registerCommands(g)));
    ctx.log.info({ user: client.user?.tag, guilds: client.guilds.cache.size }, 'discord connected');
  }

  async stop(): Promise<void> {
    this.chat.close();
    await this.client.destroy();
  }

  // ---- ChatTransport ----

  targets(route: DiscordRoute): readonly string[] {
    return route.channelIds;
  }

  fit(text: string): string[] {
    return [discordText(text).slice(0, MAX_LINE)];
  }

  windows(): SlidingWindow[] {
    const { messages, windowMs } = this.ctx.options.channelRate;
    return [new SlidingWindow(messages, windowMs)];
  }

  async send(channelId: string, text: string): Promise<void> {
    const channel = await this.client.channels.fetch(channelId);
    if (!channel || !channel.isSendable()) throw new Error(`channel ${channelId} is not a text channel kibitz can post to`);
    for (const part of splitText(text, MAX_MESSAGE)) {
      const msg: MessageCreateOptions = { content: part, allowedMentions: NO_MENTIONS };
      await (channel as SendableChannels).send(msg);
    }
  }

  // ---- commands ----

  private async registerCommands(guild: Guild): Promise<void> {
    const { maxQuestionChars, maxSummaryMinutes } = this.ctx.limits;
    try {
      await guild.commands.set(commandDefinitions(this.ctx.streams.map((s) => s.name), maxQuestionChars, maxSummaryMinutes));
      this.ctx.log.debug({ guild: guild.id }, 'slash commands registered');
    } catch (err) {
      this.ctx.log.warn({ err, guild: guild.id }, 'could not register slash commands');
    }
  }

  /** A slash command: acknowledged, then answered in place (one reply each, not per channel). */
  private async onCommand(i: ChatInputCommandInteraction): Promise<void> {
    const { chat } = this;
    const stream = chat.streamFor(i.channelId, i.options.getString('stream'));
    const user = i.user.username;
    try {
      if (!stream) {
        await i.reply({ content: 'This channel is not linked to a stream; pick one with the `stream` option.', flags: MessageFlags.Ephemeral, allowedMentions: NO_MENTIONS });
        return;
      }
      if (i.commandName === 'status') {
        await i.reply({ content: discordText(chat.statusLine(stream)), allowedMentions: NO_MENTIONS });
        return;
      }
      if (i.commandName === 'help') {
        let text: string;
        try {
          text = chat.help(stream);
        } catch (err) {
          text = userMessage(err);
        }
        await i.reply({ content: discordText(text), allowedMentions: NO_MENTIONS });
        return;
      }
      // The model may take seconds; Discord wants an acknowledgement within 3.
      await i.deferReply();
      let text: string;
      try {
        if (i.commandName === 'ask') {
          text = (await chat.ask({ stream, question: i.options.getString('question', true), user, where: i.channelId })).answer;
        } else if (i.commandName === 'summary') {
          const r = await chat.summary({ stream, user, where: i.channelId, minutes: i.options.getInteger('minutes') ?? undefined });
          text = `Last ${r.minutes} min: ${r.summary}`;
        } else {
          text = 'Unknown command.';
        }
      } catch (err) {
        text = userMessage(err);
      }
      const [first, ...rest] = splitText(discordText(text), MAX_MESSAGE);
      await i.editReply({ content: first ?? '…', allowedMentions: NO_MENTIONS });
      for (const part of rest) await i.followUp({ content: part, allowedMentions: NO_MENTIONS });
    } catch (err) {
      this.ctx.log.warn({ err, command: i.commandName }, 'could not answer a slash command');
    }
  }

  /** `!ask` / `!summary` / `!help` typed in a channel (messageCommands). */
  private onMessage(m: Message): void {
    if (m.author.bot || !m.inGuild()) return;
    const cmd = parseChatCommand(m.content);
    if (cmd) void this.chat.command(m.channelId, m.author.username, cmd);
  }
}
