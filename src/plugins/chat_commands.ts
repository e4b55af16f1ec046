import type { KibitzEvent } from '../events.ts';
import { GateError, userMessage } from './errors.ts';
import type { GateAnswer, GateSummary } from '../questions/gate.ts';
import { OwnSummaries } from './own_summaries.ts';
import { Outbox, SlidingWindow, sumOutboxStats } from './ratelimit.ts';
import type { ChatRoute } from './chat_routes.ts';
import type { PluginContext } from './types.ts';

/** Options every chat plugin has, under its own `plugins.<name>`. */
export interface ChatOptions {
  /** Window of a summary command that names no minutes. */
  summaryMinutes: number;
  /** Post a summary to the stream's channels when it ends, of this window. */
  summaryOnEnd: boolean;
  summaryOnEndMinutes: number;
  /** Replies waiting for a channel's budget; beyond this the oldest is dropped. */
  maxQueuedReplies: number;
}

/** What a chat says, in its own style (Discord bolds names, Twitch @-mentions them). Raw text: `fit` cleans it. */
export interface ChatTexts {
  /** One reply to everyone in a channel who asked the same question. */
  answer(users: string[], answer: string): string;
  /** The reply to a summary command. */
  summary(user: string, r: GateSummary): string;
  /** A refusal or failure told to the asker; `message` is userMessage's line. */
  refusal(user: string, message: string): string;
  /** An answer to a question asked elsewhere (HTTP, another chat), from the bus. */
  relayedAnswer(ev: KibitzEvent): string;
  /** A status event (live, ended, ...). */
  status(ev: KibitzEvent): string;
  /** The summary posted when a stream ends. */
  endSummary(stream: string, r: GateSummary): string;
}

/** What a chat platform does itself: where a route points, what fits in a message, and sending. */
export interface ChatTransport<R extends ChatRoute> {
  /** The channels (ids, names) a stream's route names. */
  targets(route: R): readonly string[];
  /** Text as this chat's messages: cleaned, within its size; `[0]` alone where one message must do. */
  fit(text: string): string[];
  /** The budgets a message to `target` must fit in (per channel, per connection). */
  windows(target: string): SlidingWindow[];
  send(target: string, text: string): Promise<void>;
  texts: ChatTexts;
  /** Identical text within this window is not sent again (0 or absent: off). */
  dedupeMs?: number;
  /** False while the chat can only listen (Twitch without a token): commands and events are left alone. */
  canPost?: boolean;
  /** Cooldown refusals stay quiet: telling each would spend the budget the cooldown protects. */
  quietCooldowns?: boolean;
}

/** A command typed in a chat message (`!ask ...`, `!summary 5`, `!help`). */
export type ChatCommand = { name: 'ask'; question: string } | { name: 'summary'; minutes?: number } | { name: 'help' };

/**
 * A chat message as a command, the one parser every chat uses (Discord's message commands,
 * Twitch): `!ask QUESTION`, `!summary [MINUTES]`, `!help`, the command word followed by
 * whitespace or the end (`!asking` and `!ask?` are not commands); undefined for anything else,
 * and for `!ask` with nothing after it.
 */
export function parseChatCommand(text: string): ChatCommand | undefined {
  const m = /^!(ask|summary|help)(?:\s+([\s\S]*))?$/i.exec(text.trim());
  return m ? chatCommand(m[1]!, (m[2] ?? '').trim()) : undefined;
}

/** `!ask <question>` / `!summary [minutes]` / `!help` once parsed (`arg`: the rest, trimmed); Discord's slash commands come here too. */
export function chatCommand(name: string, arg: string): ChatCommand | undefined {
  const n = name.toLowerCase();
  if (n === 'ask') return arg ? { name: 'ask', question: arg } : undefined;
  if (n === 'help') return { name: 'help' };
  if (n !== 'summary') return undefined;
  const minutes = Number.parseInt(arg, 10);
  return { name: 'summary', minutes: Number.isFinite(minutes) ? minutes : undefined };
}

/**
 * The part every chat plugin shares, whatever carries its messages: commands to the gate, each
 * answer once per channel, summaries posted once (OwnSummaries), bus events routed to the
 * stream's channels, and one rate-limited Outbox per channel. The platform's bot connects,
 * parses messages into commands, and sends (ChatTransport).
 */
export class ChatCommands<R extends ChatRoute> {
  private readonly outboxes = new Map<string, Outbox>();
  private readonly targetToStream = new Map<string, string>();
  private readonly ownSummaries = new OwnSummaries();

  constructor(private readonly ctx: PluginContext<ChatOptions, R>, private readonly transport: ChatTransport<R>) {
    for (const s of ctx.streams) for (const t of s.route ? transport.targets(s.route) : []) this.targetToStream.set(t, s.name);
    ctx.counters(() => sumOutboxStats(this.outboxes.values()));
    ctx.subscribe((ev) => this.onEvent(ev));
  }

  /** Every channel some stream routes to (the ones to join). */
  targets(): string[] {
    return [...this.targetToStream.keys()];
  }

  /** The stream a command is about: named, else the channel's, else the only one configured. */
  streamFor(target: string | null, named?: string | null): string | undefined {
    if (named) return named;
    if (target && this.targetToStream.has(target)) return this.targetToStream.get(target);
    return this.ctx.streams.length === 1 ? this.ctx.streams[0]!.name : undefined;
  }

  /** A viewer's question, through the gate; for replies the platform gives itself (Discord's /ask). */
  ask(req: { stream: string; question: string; user: string; where?: string }): Promise<GateAnswer> {
    return this.ctx.ask({ ...req, source: this.ctx.name }, this.ctx.signal);
  }

  /** A summary this chat posts itself, so the bus copy is not posted again; `minutes` defaults to summaryMinutes. */
  summary(req: { stream: string; user: string; where?: string; minutes?: number }, opts: { endOfStream?: boolean } = {}): Promise<GateSummary> {
    const { ctx } = this;
    const minutes = req.minutes ?? ctx.options.summaryMinutes;
    return this.ownSummaries.request(req.stream, () => ctx.summary({ ...req, minutes, source: ctx.name }, ctx.signal), opts);
  }

  /** What viewers can ask on a stream: the line a question the model cannot answer gets (help commands). */
  help(stream: string): string {
    return this.ctx.help(stream);
  }

  /** One line on a stream's state, for a status command. */
  statusLine(stream: string): string {
    const s = this.ctx.status(stream);
    const ago = s.lastEventAt ? `, last event ${Math.round((Date.now() - Date.parse(s.lastEventAt)) / 1000)}s ago` : '';
    return `${stream}: ${s.state} · ${s.commentaryCount} commentary lines · ${s.answerCount} answers${ago}`;
  }

  /** A command typed in `target` by `user`: answered there, through its outbox. */
  async command(target: string, user: string, cmd: ChatCommand): Promise<void> {
    const { ctx, transport: t } = this;
    if (t.canPost === false) return;
    const stream = this.streamFor(target);
    if (!stream) return;
    const out = this.outbox(target);
    try {
      if (cmd.name === 'help') {
        for (const part of t.fit(t.texts.answer([user], this.help(stream)))) out.push(part, 'reply');
      } else if (cmd.name === 'ask') {
        const r = await this.ask({ stream, question: cmd.question, user, where: target });
        // One message for everyone in this channel who asked the same thing.
        if (!r.claim(`${ctx.name}:${target}`)) return;
        const users = [...new Set(r.askers.filter((a) => a.source === ctx.name && a.where === target).map((a) => a.user))];
        for (const part of t.fit(t.texts.answer(users, r.answer))) out.push(part, 'reply');
      } else {
        const r = await this.summary({ stream, user, where: target, minutes: cmd.minutes });
        for (const part of t.fit(t.texts.summary(user, r))) out.push(part, 'reply');
      }
    } catch (err) {
      if (t.quietCooldowns && err instanceof GateError && err.code === 'COOLDOWN') return;
      out.push(t.fit(t.texts.refusal(user, userMessage(err)))[0] ?? '', 'notice');
    }
  }

  /** Stops sending; whatever is queued is dropped. */
  close(): void {
    for (const o of this.outboxes.values()) o.close();
  }

  private routeOf(stream: string): R | undefined {
    return this.ctx.streams.find((s) => s.name === stream)?.route;
  }

  private onEvent(ev: KibitzEvent): void {
    const { ctx, transport: t } = this;
    const route = this.routeOf(ev.stream);
    if (!route || t.canPost === false) return;
    if (ev.kind === 'status' && ev.status === 'ended' && ctx.options.summaryOnEnd) void this.postEndSummary(ev.stream, t.targets(route));
    if (!route.gets.has(ev.kind)) return;
    // Answers to this chat's askers were already given in place.
    if (ev.kind === 'answer' && ev.source === ctx.name) return;
    // Summaries asked for here were (or are being) posted in place.
    if (this.ownSummaries.isOwn(ev)) return;
    let text = ev.text;
    if (ev.kind === 'answer') text = t.texts.relayedAnswer(ev);
    if (ev.kind === 'summary') text = `Summary: ${ev.text}`;
    if (ev.kind === 'status') text = t.texts.status(ev);
    const line = t.fit(text)[0];
    if (!line) return;
    for (const target of t.targets(route)) this.outbox(target).push(line, ev.kind === 'commentary' ? 'commentary' : 'reply');
  }

  private async postEndSummary(stream: string, targets: readonly string[]): Promise<void> {
    const { ctx, transport: t } = this;
    try {
      const r = await this.summary({ stream, user: `kibitz:${stream}`, minutes: ctx.options.summaryOnEndMinutes }, { endOfStream: true });
      const line = t.fit(t.texts.endSummary(stream, r))[0] ?? '';
      for (const target of targets) this.outbox(target).push(line, 'reply');
    } catch (err) {
      ctx.log.info({ err, stream }, 'no end-of-stream summary');
    }
  }

  private outbox(target: string): Outbox {
    let o = this.outboxes.get(target);
    if (!o) {
      const { ctx, transport: t } = this;
      // Commentary reaches a chat only at its stream's opt-in rate (chat_routes.ts).
      const route = ctx.streams.find((s) => s.route && t.targets(s.route).includes(target))?.route;
      o = new Outbox({
        windows: t.windows(target),
        commentaryWindow: new SlidingWindow(route?.commentaryPerMinute ?? 1, 60_000),
        dedupeMs: t.dedupeMs,
        maxQueuedReplies: ctx.options.maxQueuedReplies,
        send: (text) => t.send(target, text),
        onError: (err) => ctx.log.warn({ err, channel: target }, `${ctx.name} send failed`),
      });
      this.outboxes.set(target, o);
    }
    return o;
  }
}
