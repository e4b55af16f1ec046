/**
 * A local stand-in for Discord: the REST routes kibitz uses and a gateway speaking enough of the
 * protocol (HELLO, IDENTIFY -> READY, heartbeat ACK, GUILD_CREATE, INTERACTION_CREATE,
 * MESSAGE_CREATE) for the real discord.js to run against it. Everything it receives is recorded.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface RestCall {
  method: string;
  path: string;
  body: any;
  at: number;
}

let snow = 100_000_000_000_000_000n;
const nextId = () => String(++snow);

export class FakeDiscord {
  readonly appId = '900000000000000001';
  readonly botUser = { id: '900000000000000002', username: 'kibitz', discriminator: '0', global_name: null, avatar: null, bot: true };
  readonly guildId = '900000000000000003';
  readonly channelId = '900000000000000004';
  readonly calls: RestCall[] = [];
  identify: any;
  private server!: Server;
  private wss!: WebSocketServer;
  private sockets = new Set<WebSocket>();
  private seq = 0;
  private listeners: ((c: RestCall) => void)[] = [];
  port = 0;

  get apiBase(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.onRest(req, res));
    this.wss = new WebSocketServer({ server: this.server });
    this.wss.on('connection', (ws) => this.onGateway(ws));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  /** Resolves with the first REST call (from now on) that matches. */
  nextCall(match: (c: RestCall) => boolean, timeoutMs = 5000): Promise<RestCall> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== l2);
        reject(new Error('no matching REST call'));
      }, timeoutMs);
      const l2 = (c: RestCall) => {
        if (!match(c)) return;
        clearTimeout(t);
        this.listeners = this.listeners.filter((l) => l !== l2);
        resolve(c);
      };
      this.listeners.push(l2);
    });
  }

  /** Calls that create or edit a message (what must never mention anyone). */
  messageCalls(): RestCall[] {
    return this.calls.filter((c) =>
      (c.method === 'POST' && /\/channels\/\d+\/messages$/.test(c.path)) ||
      (c.method === 'PATCH' && /\/webhooks\/.+\/messages\/@original$/.test(c.path)) ||
      (c.method === 'POST' && /\/webhooks\/\d+\/[^/]+$/.test(c.path)) ||
      (c.method === 'POST' && /\/callback$/.test(c.path) && c.body?.type === 4));
  }

  channelMessages(): string[] {
    return this.calls.filter((c) => c.method === 'POST' && c.path.endsWith(`/channels/${this.channelId}/messages`)).map((c) => c.body.content);
  }

  private user(id: string, username: string) {
    return { id, username, discriminator: '0', global_name: username, avatar: null };
  }

  /** A viewer runs a slash command; returns the interaction token. */
  sendCommand(name: string, options: { name: string; type: number; value: string | number }[], user = 'viewer'): string {
    const id = nextId();
    const token = `itoken-${id}`;
    const u = this.user(nextId(), user);
    this.dispatch('INTERACTION_CREATE', {
      id, application_id: this.appId, type: 2, token, version: 1,
      data: { id: nextId(), name, type: 1, options, guild_id: this.guildId },
      guild_id: this.guildId, channel_id: this.channelId,
      channel: { id: this.channelId, type: 0, guild_id: this.guildId, name: 'live', permissions: '0' },
      member: { user: u, roles: [], permissions: '2248473465835073', joined_at: new Date().toISOString(), deaf: false, mute: false, flags: 0, nick: null, avatar: null },
      app_permissions: '2248473465835073', locale: 'en-US', guild_locale: 'en-US', entitlements: [],
      authorizing_integration_owners: { 0: this.guildId }, context: 0, attachment_size_limit: 8_388_608,
    });
    return token;
  }

  sendMessage(content: string, user = 'viewer'): void {
    const u = this.user(nextId(), user);
    this.dispatch('MESSAGE_CREATE', {
      id: nextId(), channel_id: this.channelId, guild_id: this.guildId, author: u,
      member: { roles: [], joined_at: new Date().toISOString(), deaf: false, mute: false, flags: 0 },
      content, timestamp: new Date().toISOString(), edited_timestamp: null, tts: false, mention_everyone: false,
      mentions: [], mention_roles: [], attachments: [], embeds: [], pinned: false, type: 0,
    });
  }

  private dispatch(t: string, d: unknown): void {
    const payload = JSON.stringify({ op: 0, t, s: ++this.seq, d });
    for (const s of this.sockets) s.send(payload);
  }

  private onGateway(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 41_250 }, s: null, t: null }));
    ws.on('message', (raw) => {
      const msg = JSON.parse(String(raw));
      if (msg.op === 1) ws.send(JSON.stringify({ op: 11, d: null, s: null, t: null }));
      if (msg.op === 2) {
        this.identify = msg.d;
        this.dispatch('READY', {
          v: 10, user: this.botUser, guilds: [{ id: this.guildId, unavailable: true }], session_id: 'fake-session',
          resume_gateway_url: `ws://127.0.0.1:${this.port}`, application: { id: this.appId, flags: 0 }, shard: [0, 1],
          private_channels: [], relationships: [], presences: [], guild_join_requests: [], user_settings: {},
        });
        this.dispatch('GUILD_CREATE', this.guild());
      }
    });
  }

  private guild() {
    return {
      id: this.guildId, name: 'kibitz test', icon: null, splash: null, discovery_splash: null, owner_id: '1', afk_channel_id: null,
      afk_timeout: 300, verification_level: 0, default_message_notifications: 0, explicit_content_filter: 0, mfa_level: 0,
      nsfw_level: 0, premium_tier: 0, system_channel_id: null, system_channel_flags: 0, rules_channel_id: null,
      preferred_locale: 'en-US', features: [], emojis: [], stickers: [], large: false, unavailable: false, member_count: 2,
      joined_at: new Date().toISOString(), voice_states: [], members: [], presences: [], threads: [], stage_instances: [],
      guild_scheduled_events: [], soundboard_sounds: [],
      roles: [{ id: this.guildId, name: '@everyone', color: 0, hoist: false, position: 0, permissions: '1071698660929', managed: false, mentionable: false, flags: 0 }],
      channels: [{ id: this.channelId, type: 0, name: 'live', position: 0, permission_overwrites: [], guild_id: this.guildId, topic: null, nsfw: false, last_message_id: null, rate_limit_per_user: 0, parent_id: null }],
    };
  }

  private async onRest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    let body: any = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    const call: RestCall = { method: req.method ?? 'GET', path, body, at: performance.now() };
    this.calls.push(call);
    const json = (status: number, v?: unknown) => {
      res.writeHead(status, v === undefined ? {} : { 'content-type': 'application/json' });
      res.end(v === undefined ? undefined : JSON.stringify(v));
    };
    const message = (channelId: string, b: any) => ({
      id: nextId(), channel_id: channelId, author: this.botUser, content: b?.content ?? '', timestamp: new Date().toISOString(),
      edited_timestamp: null, tts: false, mention_everyone: false, mentions: [], mention_roles: [], attachments: [], embeds: [],
      pinned: false, type: 0, flags: b?.flags ?? 0, components: [],
    });
    let m: RegExpExecArray | null;
    try {
      if (path === '/api/v10/gateway/bot') {
        json(200, { url: `ws://127.0.0.1:${this.port}`, shards: 1, session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 } });
      } else if ((m = /^\/api\/v10\/channels\/(\d+)$/.exec(path)) && req.method === 'GET') {
        json(200, { id: m[1], type: 0, guild_id: this.guildId, name: 'live', position: 0, permission_overwrites: [], nsfw: false, parent_id: null, last_message_id: null, rate_limit_per_user: 0, topic: null });
      } else if ((m = /^\/api\/v10\/channels\/(\d+)\/messages$/.exec(path)) && req.method === 'POST') {
        json(200, message(m[1]!, body));
      } else if ((m = /^\/api\/v10\/applications\/(\d+)\/guilds\/(\d+)\/commands$/.exec(path)) && req.method === 'PUT') {
        json(200, (body as any[]).map((c) => ({ ...c, id: nextId(), application_id: this.appId, guild_id: m![2], version: nextId(), type: 1, default_member_permissions: null, nsfw: false })));
      } else if (/^\/api\/v10\/interactions\/\d+\/[^/]+\/callback$/.test(path)) {
        if (url.searchParams.get('with_response') === 'true') {
          json(200, { interaction: { id: path.split('/')[4], type: 2 }, resource: { type: body?.type, message: message(this.channelId, body?.data) } });
        } else {
          json(204);
        }
      } else if ((m = /^\/api\/v10\/webhooks\/\d+\/([^/]+)\/messages\/@original$/.exec(path))) {
        json(200, message(this.channelId, body));
      } else if (/^\/api\/v10\/webhooks\/\d+\/[^/]+$/.test(path) && req.method === 'POST') {
        json(200, message(this.channelId, body));
      } else {
        json(404, { message: `fake discord: no route ${req.method} ${path}`, code: 0 });
      }
    } finally {
      for (const l of [...this.listeners]) l(call);
    }
  }
}
