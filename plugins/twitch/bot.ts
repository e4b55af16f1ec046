import { ChatClient } from '@twurple/chat';
import { ChatCommands, oneLine, parseChatCommand, SlidingWindow, splitText, type ChatTexts, type ChatTransport, type PluginContext } from '../../src/plugins/sdk.ts';
import type { TwitchOptions, TwitchRoute } from './options.ts';

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

/** What kibitz says in Twitch chat: askers are @-mentioned. */
export const twitchTexts: ChatTexts = {
  answer: (users, answer) => `${users.map((u) => `@${u}`).join(' ')} ${answer}`,
  summary: (user, r) => `@${user} last ${r.minutes} min: ${r.summary}`,
  refusal: (user, message) => `@${user} ${message}`,
  relayedAnswer: (ev) => `${ev.user ?? 'someone'} asked "${ev.question ?? ''}": ${ev.text}`,
  status: (ev) => `Stream is ${ev.status ?? 'updated'}${ev.text ? `: ${ev.text}` : ''}`,
  endSummary: (_stream, r) => `Stream ended. Last ${r.minutes} min: ${r.summary}`,
};

/** Twitch's side of a chat: the IRC connection, `!ask` / `!summary` / `!help` in messages, and saying lines. */
export class TwitchBot implements ChatTransport<TwitchRoute> {
  private readonly client: ChatClient;
  private readonly chat: ChatCommands<TwitchRoute>;
  /** One budget for the connection, shared by all its channels. */
  private readonly window: SlidingWindow;
  private nick = '';
  readonly texts = twitchTexts;
  readonly dedupeMs: number;
  /** Anonymous connections can't post, so the model isn't spent on questions we can't answer. */
  readonly canPost: boolean;
  readonly quietCooldowns = true;

  constructor(private readonly ctx: PluginContext<TwitchOptions, TwitchRoute>) {
    const o = ctx.options;
    this.dedupeMs = o.duplicateWindowMs;
    this.canPost = !!o.token;
    const rate = o.rateLimit ?? { messages: o.moderator ? 100 : 20, windowMs: 30_000 };
    // twurple's own limiter counts 32 s windows; match it so it never has to queue behind ours.
    this.window = new SlidingWindow(rate.messages, Math.max(rate.windowMs, o.rateLimit ? 0 : 32_000));
    this.chat = new ChatCommands(ctx, this);
    const log = ctx.log;
    this.client = new ChatClient({
      hostName: o.host,
      ssl: o.ssl,
      webSocket: false,
      channels: this.chat.targets(),
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
    configureConnection(this.client, o.port, o.token && o.username ? { username: o.username, token: o.token } : undefined);
  }

  async start(): Promise<void> {
    const { client, ctx } = this;
    const o = ctx.options;
    if (!o.token) ctx.log.warn('no plugins.twitch.token: connecting anonymously, read-only (commands are heard, not answered)');
    if (o.token && !o.ssl && !/^(127\.|localhost$|::1$)/.test(o.host)) ctx.log.warn({ host: o.host }, 'plugins.twitch.ssl is false: the chat token crosses the network in clear text; remove ssl: false unless this is a local test server');
    const want = new Set(this.chat.targets());
    if (want.size === 0) ctx.log.warn('no stream has a twitch channel (streams[].twitch.channel); nothing to join');

    client.onMessage((channel, user, text) => this.onMessage(channel.toLowerCase(), user, text));

    const joined = new Set<string>();
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`twitch: not connected and joined within ${o.connectTimeoutMs} ms (${o.host})`)), o.connectTimeoutMs);
      const check = () => {
        if ([...want].every((c) => joined.has(c))) {
          clearTimeout(timer);
          resolve();
        }
      };
      // Our own JOIN echo (Twitch also sends ROOMSTATE, which plain IRC servers do not).
      client.onJoin((channel, user) => {
        if (user.toLowerCase() === client.irc.currentNick.toLowerCase()) joined.add(channel.toLowerCase());
        check();
      });
      client.onAuthenticationSuccess(() => check());
      client.onAuthenticationFailure((message) => {
        clearTimeout(timer);
        reject(new Error(`twitch login failed: ${message}`));
      });
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new Error('twitch: stopped while connecting'));
      }, { once: true });
    });
    client.connect();
    if (o.token && o.username) client.irc.changeNick(o.username.toLowerCase());
    await ready;
    // A token revoked later: start over (with backoff) rather than loop on a dead login.
    client.onAuthenticationFailure((message) => ctx.fail(new Error(`twitch login failed: ${message}`)));
    this.nick = client.irc.currentNick.toLowerCase();
    ctx.log.info({ nick: this.nick, channels: [...joined] }, 'twitch connected');
  }

  stop(): void {
    this.chat.close();
    this.client.quit();
  }

  // ---- ChatTransport ----

  targets(route: TwitchRoute): readonly string[] {
    return route.channels;
  }

  /** One IRC line each, within 500 characters; at most two parts, so one answer can't flood. */
  fit(text: string): string[] {
    const parts = splitText(oneLine(text), MAX_MESSAGE - 10);
    if (parts.length > 2) parts[1] = parts[1]!.slice(0, MAX_MESSAGE - 11) + '…';
    return parts.slice(0, 2);
  }

  windows(): SlidingWindow[] {
    return [this.window];
  }

  send(channel: string, text: string): Promise<void> {
    return this.client.say(channel, text);
  }

  private onMessage(channel: string, user: string, text: string): void {
    if (user.toLowerCase() === this.nick) return;
    const cmd = parseChatCommand(text);
    if (cmd) void this.chat.command(channel, user, cmd);
  }
}
