import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Every client (the bot's token, the viewers) must send this, as on Twitch. */
export const IRC_PASSWORD = 'kibitz-test-token';

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Debian's ngircd in the foreground on a free loopback port, flood penalties off. */
export class Ngircd {
  port = 0;
  private proc?: ChildProcess;
  private dir = '';
  log = '';

  async start(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'kibitz-ngircd-'));
    for (let attempt = 0; attempt < 5; attempt++) {
      this.port = await freePort();
      const conf = join(this.dir, 'ngircd.conf');
      writeFileSync(join(this.dir, 'motd'), 'kibitz test server\n');
      writeFileSync(conf, [
        '[Global]', 'Name = irc.kibitz.test', `Password = oauth:${IRC_PASSWORD}`, 'Info = kibitz test', `Listen = 127.0.0.1`, `Ports = ${this.port}`,
        `MotdFile = ${join(this.dir, 'motd')}`, `PidFile = ${join(this.dir, 'ngircd.pid')}`,
        '[Limits]', 'MaxConnectionsIP = 0', 'MaxJoins = 0', 'MaxNickLength = 31', 'MaxPenaltyTime = 0', 'PingTimeout = 120', 'PongTimeout = 20',
        '[Options]', 'PAM = no', 'DNS = no', 'Ident = no', 'RequireAuthPing = no',
        '',
      ].join('\n'));
      this.proc = spawn('/usr/sbin/ngircd', ['-n', '-f', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
      this.proc.stdout!.on('data', (d) => (this.log += d));
      this.proc.stderr!.on('data', (d) => (this.log += d));
      if (await this.waitListening(3000)) return;
      this.proc.kill('SIGKILL');
    }
    throw new Error(`ngircd did not start:\n${this.log}`);
  }

  private async waitListening(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.proc?.exitCode !== null) return false;
      const ok = await new Promise<boolean>((resolve) => {
        const s = new Socket();
        s.once('connect', () => (s.destroy(), resolve(true)));
        s.once('error', () => resolve(false));
        s.connect(this.port, '127.0.0.1');
      });
      if (ok) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  async stop(): Promise<void> {
    if (this.proc && this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc!.once('exit', r));
      this.proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface IrcLine { at: number; line: string; from: string; target: string; text: string }

/** A bare IRC client on a net socket: the "viewer" in tests. */
export class RawIrc {
  private sock = new Socket();
  private buf = '';
  readonly privmsgs: IrcLine[] = [];
  private waiters: { match: (l: IrcLine) => boolean; resolve: (l: IrcLine) => void }[] = [];
  private joinedResolve?: () => void;

  constructor(readonly nick: string) {}

  async connect(port: number, channel: string): Promise<void> {
    const joined = new Promise<void>((r) => (this.joinedResolve = r));
    this.sock.setNoDelay(true);
    this.sock.on('data', (d) => this.onData(String(d)));
    await new Promise<void>((resolve, reject) => {
      this.sock.once('error', reject);
      this.sock.connect(port, '127.0.0.1', () => resolve());
    });
    this.send(`PASS oauth:${IRC_PASSWORD}`);
    this.send(`NICK ${this.nick}`);
    this.send(`USER ${this.nick} 0 * :${this.nick}`);
    this.pendingJoin = channel;
    await joined;
  }

  private pendingJoin = '';

  send(line: string): void {
    this.sock.write(line + '\r\n');
  }

  say(channel: string, text: string): void {
    this.send(`PRIVMSG #${channel} :${text}`);
  }

  nextPrivmsg(match: (l: IrcLine) => boolean, timeoutMs = 5000): Promise<IrcLine> {
    return new Promise((resolve, reject) => {
      const w = { match, resolve: (l: IrcLine) => (clearTimeout(t), resolve(l)) };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`${this.nick}: no matching PRIVMSG`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const raw = this.buf.slice(0, i).replace(/\r$/, '');
      this.buf = this.buf.slice(i + 1);
      const at = performance.now();
      if (raw.startsWith('PING')) this.send('PONG' + raw.slice(4));
      const m = /^:([^! ]+)\S* (\d{3}|[A-Z]+) ?(.*)$/.exec(raw);
      if (!m) continue;
      const [, from, cmd, rest] = m;
      if (cmd === '001' && this.pendingJoin) this.send(`JOIN #${this.pendingJoin}`);
      if (cmd === 'JOIN' && from === this.nick) this.joinedResolve?.();
      if (cmd === 'PRIVMSG') {
        const pm = /^(\S+) :(.*)$/.exec(rest!);
        if (!pm) continue;
        const l: IrcLine = { at, line: raw, from: from!, target: pm[1]!, text: pm[2]! };
        this.privmsgs.push(l);
        for (const w of [...this.waiters]) {
          if (w.match(l)) {
            this.waiters = this.waiters.filter((x) => x !== w);
            w.resolve(l);
          }
        }
      }
    }
  }

  close(): void {
    this.send('QUIT :bye');
    this.sock.destroy();
  }
}
