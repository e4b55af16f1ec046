import {
  Client, Events, GatewayIntentBits, MessageFlags,
  type ChatInputCommandInteraction, type Guild, type Message, type MessageCreateOptions, type SendableChannels,
} from 'discord.js';
import type { KibitzEvent } from '../../src/events.ts';
import { userMessage } from '../../src/plugins/errors.ts';
import { OwnSummaries } from '../../src/plugins/own_summaries.ts';
import { Outbox, SlidingWindow, sumOutboxStats } from '../../src/plugins/ratelimit.ts';
import { cleanOutgoing, neutraliseDiscordMentions, splitText } from '../../src/plugins/sanitize.ts';
import type { PluginContext } from '../../src/plugins/types.ts';
import { commandDefinitions } from './commands.ts';
import type { DiscordOptions } from './options.ts';

const MAX_MESSAGE = 2000;
/** Room left for "(+N more)" and "**a, b**: " prefixes before the final split. */
const MAX_LINE = 1900;
const NO_MENTIONS = { parse: [] as never[], repliedUser: false };

/** Model or viewer text made safe for a Discord message: no commands, no live mentions. */
export function discordText(text: string): string {
  return neutraliseDiscordMentions(cleanOutgoing(text));
}

export class DiscordBot {
  private readonly client: Client;
  private readonly outboxes = new Map<string, Outbox>();
  private readonly channelToStream = new Map<string, string>();
  private readonly ownSummaries = new OwnSummaries();

  constructor(private readonly ctx: PluginContext<DiscordOptions>) {
    const o = ctx.options;
    const intents = [GatewayIntentBits.Guilds];
    if (o.messageCommands) intents.push(GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent);
    this.client = new Client({
      intents,
      rest: { api: o.apiBase.replace(/\/+$/, '') },
      // The default for every message the client builds; each send also passes it explicitly.
      allowedMentions: NO_MENTIONS,
    });
    for (const s of ctx.streams) for (const id of s.discord?.channelIds ?? []) this.channelToStream.set(id, s.name);
    ctx.counters(() => sumOutboxStats(this.outboxes.values()));
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
    if (ctx.options.messageCommands) client.on(Events.MessageCreate, (m) => void this.onMessage(m));
    ctx.subscribe((ev) => this.onEvent(ev));

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
    for (const o of this.outboxes.values()) o.close();
    await this.client.destroy();
  }

  private async registerCommands(guild: Guild): Promise<void> {
    const { maxQuestionChars, maxSummaryMinutes } = this.ctx.limits;
    try {
      await guild.commands.set(commandDefinitions(this.ctx.streams.map((s) => s.name), maxQuestionChars, maxSummaryMinutes));
      this.ctx.log.debug({ guild: guild.id }, 'slash commands registered');
    } catch (err) {
      this.ctx.log.warn({ err, guild: guild.id }, 'could not register slash commands');
    }
  }

  /** The stream a command is about: named, else the channel's, else the only one configured. */
  private streamFor(channelId: string | null, named?: string | null): string | undefined {
    if (named) return named;
    if (channelId && this.channelToStream.has(channelId)) return this.channelToStream.get(channelId);
    return this.ctx.streams.length === 1 ? this.ctx.streams[0]!.name : undefined;
  }

  private async onCommand(i: ChatInputCommandInteraction): Promise<void> {
    const { ctx } = this;
    const stream = this.streamFor(i.channelId, i.options.getString('stream'));
    const user = i.user.username;
    try {
      if (!stream) {
        await i.reply({ content: 'This channel is not linked to a stream; pick one with the `stream` option.', flags: MessageFlags.Ephemeral, allowedMentions: NO_MENTIONS });
        return;
      }
      if (i.commandName === 'status') {
        const s = ctx.status(stream);
        const ago = s.lastEventAt ? `, last event ${Math.round((Date.now() - Date.parse(s.lastEventAt)) / 1000)}s ago` : '';
        await i.reply({ content: discordText(`${stream}: ${s.state} · ${s.commentaryCount} commentary lines · ${s.answerCount} answers${ago}`), allowedMentions: NO_MENTIONS });
        return;
      }
      // The model may take seconds; Discord wants an acknowledgement within 3.
      await i.deferReply();
      let text: string;
      try {
        if (i.commandName === 'ask') {
          const r = await ctx.ask({ stream, question: i.options.getString('question', true), user, source: 'discord', where: i.channelId }, ctx.signal);
          text = r.answer;
        } else if (i.commandName === 'summary') {
          const minutes = i.options.getInteger('minutes') ?? ctx.options.summaryMinutes;
          const r = await this.ownSummaries.request(stream, () => ctx.summary({ stream, minutes, user, source: 'discord', where: i.channelId }, ctx.signal));
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
      ctx.log.warn({ err, command: i.commandName }, 'could not answer a slash command');
    }
  }

  private async onMessage(m: Message): Promise<void> {
    if (m.author.bot || !m.inGuild()) return;
    const match = /^!(ask|summary)\b\s*([\s\S]*)$/i.exec(m.content.trim());
    if (!match) return;
    const stream = this.streamFor(m.channelId);
    if (!stream) return;
    const { ctx } = this;
    const cmd = match[1]!.toLowerCase();
    const arg = match[2]!.trim();
    const user = m.author.username;
    const asker = { user, source: 'discord', where: m.channelId };
    try {
      if (cmd === 'ask') {
        if (!arg) return;
        const r = await ctx.ask({ stream, question: arg, ...asker }, ctx.signal);
        // One message for everyone in this channel who asked the same thing.
        if (!r.claim(`discord:${m.channelId}`)) return;
        const names = [...new Set(r.askers.filter((a) => a.source === 'discord' && a.where === m.channelId).map((a) => a.user))];
        this.outbox(m.channelId).push(discordText(`**${names.join(', ')}**: ${r.answer}`).slice(0, MAX_LINE), 'reply');
      } else {
        const minutes = Number.parseInt(arg, 10);
        const r = await this.ownSummaries.request(stream, () => ctx.summary({ stream, minutes: Number.isFinite(minutes) ? minutes : ctx.options.summaryMinutes, ...asker }, ctx.signal));
        this.outbox(m.channelId).push(discordText(`**${user}**: last ${r.minutes} min: ${r.summary}`).slice(0, MAX_LINE), 'reply');
      }
    } catch (err) {
      this.outbox(m.channelId).push(discordText(`**${user}**: ${userMessage(err)}`), 'notice');
    }
  }

  private onEvent(ev: KibitzEvent): void {
    const route = this.ctx.streams.find((s) => s.name === ev.stream)?.discord;
    if (!route) return;
    if (ev.kind === 'status' && ev.status === 'ended' && this.ctx.options.summaryOnEnd) void this.postEndSummary(ev.stream, route.channelIds);
    if (!route.gets.has(ev.kind)) return;
    // Answers to Discord askers were already given in place.
    if (ev.kind === 'answer' && ev.source === 'discord') return;
    // Summaries asked for here were (or are being) posted in place.
    if (this.ownSummaries.isOwn(ev)) return;
    let text = ev.text;
    if (ev.kind === 'answer') text = `**${ev.user ?? 'someone'}** asked “${ev.question ?? ''}”: ${ev.text}`;
    if (ev.kind === 'summary') text = `Summary: ${ev.text}`;
    if (ev.kind === 'status') text = `Stream ${ev.stream} is ${ev.status ?? 'updated'}${ev.text ? `: ${ev.text}` : ''}`;
    const line = discordText(text).slice(0, MAX_LINE);
    for (const id of route.channelIds) this.outbox(id).push(line, ev.kind === 'commentary' ? 'commentary' : 'reply');
  }

  private async postEndSummary(stream: string, channelIds: string[]): Promise<void> {
    const minutes = this.ctx.options.summaryOnEndMinutes;
    try {
      const r = await this.ownSummaries.request(stream, () => this.ctx.summary({ stream, minutes, user: `kibitz:${stream}`, source: 'discord' }, this.ctx.signal), { endOfStream: true });
      const line = discordText(`Stream ${stream} ended. Last ${r.minutes} min: ${r.summary}`).slice(0, MAX_LINE);
      for (const id of channelIds) this.outbox(id).push(line, 'reply');
    } catch (err) {
      this.ctx.log.info({ err, stream }, 'no end-of-stream summary');
    }
  }

  private outbox(channelId: string): Outbox {
    let o = this.outboxes.get(channelId);
    if (!o) {
      const { messages, windowMs } = this.ctx.options.channelRate;
      // Commentary reaches a chat only at its stream's opt-in rate (routes.ts).
      const perMinute = this.ctx.streams.find((s) => s.discord?.channelIds.includes(channelId))?.discord?.commentaryPerMinute ?? 1;
      o = new Outbox({
        windows: [new SlidingWindow(messages, windowMs)],
        commentaryWindow: new SlidingWindow(perMinute, 60_000),
        maxQueuedReplies: this.ctx.options.maxQueuedReplies,
        send: (text) => this.send(channelId, text),
        onError: (err) => this.ctx.log.warn({ err, channel: channelId }, 'discord send failed'),
      });
      this.outboxes.set(channelId, o);
    }
    return o;
  }

  private async send(channelId: string, text: string): Promise<void> {
    const channel = await this.client.channels.fetch(channelId);
    if (!channel || !channel.isSendable()) throw new Error(`channel ${channelId} is not a text channel kibitz can post to`);
    for (const part of splitText(text, MAX_MESSAGE)) {
      const msg: MessageCreateOptions = { content: part, allowedMentions: NO_MENTIONS };
      await (channel as SendableChannels).send(msg);
    }
  }
}
