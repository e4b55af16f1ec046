import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const MAIN = new URL('./worker_main.ts', import.meta.url).pathname;

/** A `kibitz worker` in a child process (tsx) started with config overrides, whose JSON stdout lines the test can wait for. */
export class ChildWorker {
  readonly lines: Record<string, unknown>[] = [];
  private waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: () => void }[] = [];
  exited = false;

  private constructor(readonly id: string, readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      this.lines.push(o);
      this.waiters = this.waiters.filter((w) => (w.pred(o) ? (w.resolve(), false) : true));
    });
    proc.stderr!.on('data', (d: Buffer) => {
      if (process.env.KIBITZ_TEST_LOG) process.stderr.write(`[${id}] ${d}`);
    });
    proc.once('exit', () => (this.exited = true));
  }

  static async start(id: string, overrides: Record<string, unknown>, env: Record<string, string> = {}): Promise<ChildWorker> {
    const proc = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      env: { ...process.env, KQ_CONFIG: JSON.stringify(overrides), KQ_WORKER_ID: id, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const c = new ChildWorker(id, proc);
    await c.waitLine((l) => l.ready === id, 60_000);
    return c;
  }

  waitLine(pred: (l: Record<string, unknown>) => boolean, timeoutMs = 30_000): Promise<void> {
    if (this.lines.some(pred)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => finish(new Error(`${this.id} exited (${code})`));
      const t = setTimeout(() => finish(new Error(`${this.id}: timed out waiting for a line`)), timeoutMs);
      const finish = (err?: Error) => {
        clearTimeout(t);
        this.proc.off('exit', onExit);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        if (err) reject(err);
        else resolve();
      };
      const waiter = { pred, resolve: () => finish() };
      this.waiters.push(waiter);
      this.proc.once('exit', onExit);
    });
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.exited) this.proc.kill(sig);
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGCONT');
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
}
