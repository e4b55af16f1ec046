import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { h264Fixture } from '../helpers/ffmpeg.ts';

const BIN = path.resolve('bin/kibitz.mjs');
const RECORDER = path.resolve('test/helpers/record_modules.mjs');
/** The chat libraries: only the Discord and Twitch plugins' setup may bring them in. */
const CHAT_LIBRARY = /\/node_modules\/(discord\.js|@discordjs|@twurple)\//;

/** A config that names both chat plugins (so reading it must not load them) and Redis workers. */
function configFile(dir: string): string {
  const file = path.join(dir, 'kibitz.yaml');
  writeFileSync(file, [
    `dataDir: ${JSON.stringify(path.join(dir, 'data'))}`,
    'model: { package: models/kibitz-demo }',
    'queue: { kind: redis, url: "redis://127.0.0.1:1" }',
    'streams: [{ name: main, key: chat-libs-test-key, discord: { channelId: "123456789012345678" }, twitch: { channel: alpha } }]',
    'plugins:',
    '  discord: { token: fake-token }',
    '  twitch: { username: kibitzbot, token: fake-token }',
    '',
  ].join('\n'));
  return file;
}

/** Runs `kibitz ARGS` with the module recorder until `done(output)` or exit; returns the modules it resolved. */
function modulesOf(args: string[], done: (out: string) => boolean): Promise<{ modules: string[]; out: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kibitz-modules-'));
  const logFile = path.join(dir, 'modules.txt');
  writeFileSync(logFile, '');
  const child = spawn(process.execPath, ['--import', RECORDER, BIN, ...args.map((a) => (a === 'CONFIG' ? configFile(dir) : a))], {
    env: { ...process.env, KIBITZ_MODULE_LOG: logFile },
  });
  let out = '';
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve({ modules: readFileSync(logFile, 'utf8').split('\n').filter(Boolean), out });
    };
    const see = (d: Buffer) => {
      out += d.toString();
      if (done(out)) finish();
    };
    child.stdout.on('data', see);
    child.stderr.on('data', see);
    child.on('close', finish);
    const timer = setTimeout(finish, 60_000);
  });
}

const closedPort = () => new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as net.AddressInfo;
    s.close(() => resolve(port));
  });
});

describe('commands that do not chat never load a chat library', () => {
  it('`kibitz worker` loads the model and reads a config naming Discord and Twitch, without discord.js or @twurple', async () => {
    const { modules, out } = await modulesOf(['worker', '--config', 'CONFIG', '--log-format', 'json'], (o) => /ready for \d+ streams/.test(o));
    expect(out).toMatch(/ready for \d+ streams/);
    // the recorder sees the config's plugin declarations and the worker's own libraries
    expect(modules.some((m) => m.endsWith('/plugins/discord/index.ts'))).toBe(true);
    expect(modules.some((m) => m.includes('/node_modules/ioredis/'))).toBe(true);
    expect(modules.filter((m) => CHAT_LIBRARY.test(m))).toEqual([]);
  }, 90_000);

  it('`kibitz push` reads the same config for the key and streams, without discord.js or @twurple', async () => {
    const url = `rtmp://127.0.0.1:${await closedPort()}/live`;
    const { modules, out } = await modulesOf(['push', h264Fixture(2), '--url', url, '--config', 'CONFIG'], () => false);
    expect(out).toContain('using the key of stream "main" from the config');
    expect(modules.some((m) => m.endsWith('/plugins/twitch/index.ts'))).toBe(true);
    expect(modules.filter((m) => CHAT_LIBRARY.test(m))).toEqual([]);
  }, 90_000);
});
