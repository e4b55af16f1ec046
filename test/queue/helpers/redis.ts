import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../helpers/net.ts';

export interface RedisServerOptions {
  /** Persist to a temp dir with AOF fsync on every write (the restart test); off by default. */
  persist?: boolean;
  /** Reuse a port (restart on the same address). */
  port?: number;
  /** Reuse a data dir (restart with the same files). */
  dir?: string;
}

/** A real redis-server on a free loopback port, for tests and benches. */
export class RedisServer {
  private proc: ChildProcess | null = null;
  readonly dir: string;
  private ownsDir: boolean;

  private constructor(readonly port: number, readonly persist: boolean, dir?: string) {
    this.ownsDir = dir === undefined;
    this.dir = dir ?? mkdtempSync(join(tmpdir(), 'kibitz-redis-'));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const s = new RedisServer(opts.port ?? (await freePort()), opts.persist ?? false, opts.dir);
    await s.spawn();
    return s;
  }

  /** Starts (again) on the same port and dir. */
  async spawn(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--daemonize', 'no', '--loglevel', 'warning'];
    if (this.persist) args.push('--appendonly', 'yes', '--appendfsync', 'always');
    else args.push('--appendonly', 'no');
    const p = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = p;
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(this.port))) {
      if (p.exitCode !== null) throw new Error(`redis-server exited (${p.exitCode}): ${err}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${this.port}`);
      await new Promise((r) => setTimeout(r, 30));
    }
  }

  /** kill -9: no shutdown save (AOF with fsync always keeps what was acknowledged). */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill('SIGKILL');
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
