import { ChatClient } from '@twurple/chat';
import type { KibitzEvent } from '../../src/events.ts';
import { GateError, userMessage } from '../../src/plugins/errors.ts';
import { OwnSummaries } from '../../src/plugins/own_summaries.ts';
import { Outbox, SlidingWindow, sumOutboxStats } from '../../src/plugins/ratelimit.ts';
import { oneLine, splitText } from '../../src/plugins/sanitize.ts';
import type { PluginContext } from '../../src/plugins/types.ts';
import type { TwitchOptions } from './options.ts';

const MAX_MESSAGE = 500;

/**
 * @twurple/chat has no port option and, given any auth provider, validates the token against
 * id.twitch.tv over HTTPS first. IRC itself only needs PASS + NICK, so for a configured token we
 * connect without a provider and supply both ourselves; these are the two internals touched.
 */
function configureConnection(chat: ChatClient, port: number | undefined, login?: { username: string; token: string }): void {
  const internals = chat.irc as unknown as { _connection?: { _target?: { port?: number } }; _options?: { connection?: { port?: number } } };
  if (port !== undefined) {
    const target = internals._connection?._target;
    if (!target || !internals._options?.connection) throw new Error('@twurple/chat internals changed: cannot set the IRC port');
    target.port = port;
    internals._options.connection.port = port;
  }
  if (login) {
    const token = login.token.replace(/^oauth:/, '');
    (chat as unknown as { _getAuthToken: () => Promise<string> })._getAuthToken = async () => `oauth:${token}`;
  }
}

export class TwitchBot {
  private readonly chat: ChatClient;
  private readonly outboxes = new Map<string, Outbox>();
  private readonly window: SlidingWindow;
  private readonly channelToStream = new Map<string, string>();
  private readonly ownSummaries = new OwnSummaries();
  private nick = '';

  constructor(private readonly ctx: PluginContext<TwitchOptions>) {
    const o = ctx.options;
    for (const s of ctx.streams) for (const c of s.twitch?.channels ?? []) this.channelToStream.set(c, s.name);
    ctx.counters(() => sumOutboxStats(this.outboxes.values()));
    const rate = o.rateLimit ?? { messages: o.moderator ? 100 : 20, windowMs: 30_000 };
    // twurple's own limiter counts 32 s windows; match it so it never has to queue behind ours.
    this.window = new SlidingWindow(rate.messages, Math.max(rate.windowMs, o.rateLimit ? 0 : 32_000));
    const log = ctx.log;
    this.chat = new ChatClient({
      hostName: o.host,
      ssl: o.ssl,
      webSocket: false,
      channels: [...this.channelToStream.keys()],
      isAlwaysMod: o.moderator,
      readOnly: !o.token,
      logger: {
        minLevel: process.env.KIBITZ_TWURPLE_LOG ?? 'info',
        custom: (level: number, message: string) => {
          if (level <= 1) log.error({ lib: 'twurple' }, message);
          else if (level === 2) log.warn({ lib: 'twurple' }, message);
          else log.debug({ lib: 'twurple' }, message);
        },
      },
    });
    configureConnection(this.chat, o.port, o.token && o.username ? { username: o.username, token: o.token } : undefined);
  }

  async start(): Promise<void> {
    const { chat, ctx } = this;
    const o = ctx.options;
    if (!o.token) ctx.log.warn('no plugins.twitch.token: connecting anonymously, read-only (commands are heard, not answered)');
    if (o.token && !o.ssl && !/^(127\.|localhost$|::1$)/.test(o.host)) ctx.log.warn({ host: o.host }, 'plugins.twitch.ssl is false: the chat token crosses the network in clear text; remove ssl: false unless this is a local test server');
    if (this.channelToStream.size === 0) ctx.log.warn('no stream has a twitch channel (streams[].twitch.channel); nothing to join');

    chat.onMessage((channel, user, text) => void this.onMessage(channel.toLowerCase(), user, text));
    ctx.subscribe((ev) => this.onEvent(ev));

    const joined = new Set<string>();
    const want = new Set(this.channelToStream.keys());
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`twitch: not connected and joined within ${o.connectTimeoutMs} ms (${o.host})`)), o.connectTimeoutMs);
      const check = () => {
        if ([...want].every((c) => joined.has(c))) {
          clearTimeout(timer);
          resolve();
        }
      };
      // Our own JOIN echo (Twitch also sends ROOMSTATE, which plain IRC servers do not).
      chat.onJoin((channel, user) => {
        if (user.toLowerCase() === chat.irc.currentNick.toLowerCase()) joined.add(channel.toLowerCase());
        check();
      });
      chat.onAuthenticationSuccess(() => check());
      chat.onAuthenticationFailure((message) => {
        clearTimeout(timer);
        reject(new Error(`twitch login failed: ${message}`));
      });
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new Error('twitch: stopped while connecting'));
      }, { once: true });
    });
    chat.connect();
    if (o.token && o.username) chat.irc.changeNick(o.username.toLowerCase());
    await ready;
    // A token revoked later: start over (with backoff) rather than loop on a dead login.
    chat.onAuthenticationFailure((message) => ctx.fail(new Error(`twitch login failed: ${message}`)));
    this.nick = chat.irc.currentNick.toLowerCase();
    ctx.log.info({ nick: this.nick, channels: [...joined] }, 'twitch connected');
  }

  stop(): void {
    for (const o of this.outboxes.values()) o.close();
    this.chat.quit();
  }

  private async onMessage(channel: string, user: string, text: string): Promise<void> {
    const { ctx } = this;
    // Anonymous connections can't post, so don't spend the model on questions we can't answer.
    if (!ctx.options.token || user.toLowerCase() === this.nick) return;
    const m = /^!(ask|summary)(?:\s+([\s\S]*))?$/i.exec(text.trim());
    if (!m) return;
    const stream = this.channelToStream.get(channel);
    if (!stream) return;
    const cmd = m[1]!.toLowerCase();
    const arg = (m[2] ?? '').trim();
    const asker = { user, source: 'twitch', where: channel };
    const out = this.outbox(channel);
    try {
      if (cmd === 'ask') {
        if (!arg) return;
        const r = await ctx.ask({ stream, question: arg, ...asker }, ctx.signal);
        // One message to everyone in this channel who asked the same thing.
        if (!r.claim(`twitch:${channel}`)) return;
        const names = [...new Set(r.askers.filter((a) => a.source === 'twitch' && a.where === channel).map((a) => `@${a.user}`))];
        for (const part of this.fit(`${names.join(' ')} ${r.answer}`)) out.push(part, 'reply');
      } else {
        const minutes = Number.parseInt(arg, 10);
        const r = await this.ownSummaries.request(stream, () => ctx.summary({ stream, minutes: Number.isFinite(minutes) ? minutes : ctx.options.summaryMinutes, ...asker }, ctx.signal));
        for (const part of this.fit(`@${user} last ${r.minutes} min: ${r.summary}`)) out.push(part, 'reply');
      }
    } catch (err) {
      // Cooldowns stay quiet (answering each would spend the budget the cooldown protects).
      if (err instanceof GateError && err.code === 'COOLDOWN') return;
      out.push(this.fit(`@${user} ${userMessage(err)}`)[0]!, 'notice');
    }
  }

  private onEvent(ev: KibitzEvent): void {
    const route = this.ctx.streams.find((s) => s.name === ev.stream)?.twitch;
    if (!route || !this.ctx.options.token) return;
    if (ev.kind === 'status' && ev.status === 'ended' && this.ctx.options.summaryOnEnd) void this.postEndSummary(ev.stream, route.channels);
    if (!route.gets.has(ev.kind)) return;
    if (ev.kind === 'answer' && ev.source === 'twitch') return; // replied in place
    if (this.ownSummaries.isOwn(ev)) return; // posted in place too
    let text = ev.text;
    if (ev.kind === 'answer') text = `${ev.user ?? 'someone'} asked "${ev.question ?? ''}": ${ev.text}`;
    if (ev.kind === 'summary') text = `Summary: ${ev.text}`;
    if (ev.kind === 'status') text = `Stream is ${ev.status ?? 'updated'}${ev.text ? `: ${ev.text}` : ''}`;
    const line = this.fit(text)[0];
    if (!line) return;
    for (const c of route.channels) this.outbox(c).push(line, ev.kind === 'commentary' ? 'commentary' : 'reply');
  }

  private async postEndSummary(stream: string, channels: string[]): Promise<void> {
    try {
      const r = await this.ownSummaries.request(stream, () => this.ctx.summary({ stream, minutes: this.ctx.options.summaryOnEndMinutes, user: `kibitz:${stream}`, source: 'twitch' }, this.ctx.signal), { endOfStream: true });
      const line = this.fit(`Stream ended. Last ${r.minutes} min: ${r.summary}`)[0]!;
      for (const c of channels) this.outbox(c).push(line, 'reply');
    } catch (err) {
      this.ctx.log.info({ err, stream }, 'no end-of-stream summary');
    }
  }

  /** One IRC line each, within 500 characters; at most two parts, so one answer can't flood. */
  private fit(text: string): string[] {
    const parts = splitText(oneLine(text), MAX_MESSAGE - 10);
    if (parts.length > 2) parts[1] = parts[1]!.slice(0, MAX_MESSAGE - 11) + '…';
    return parts.slice(0, 2);
  }

  private outbox(channel: string): Outbox {
    let o = this.outboxes.get(channel);
    if (!o) {
      // Commentary reaches a chat only at its stream's opt-in rate (routes.ts).
      const perMinute = this.ctx.streams.find((s) => s.twitch?.channels.includes(channel))?.twitch?.commentaryPerMinute ?? 1;
      o = new Outbox({
        windows: [this.window],
        commentaryWindow: new SlidingWindow(perMinute, 60_000),
        dedupeMs: this.ctx.options.duplicateWindowMs,
        maxQueuedReplies: this.ctx.options.maxQueuedReplies,
        send: (text) => this.chat.say(channel, text),
        onError: (err) => this.ctx.log.warn({ err, channel }, 'twitch send failed'),
      });
      this.outboxes.set(channel, o);
    }
    return o;
  }
}
