import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config_error.ts';
import { loadConfig } from '../../src/config/load.ts';
import { parsePluginConfig } from '../../src/plugins/plugin_config.ts';
import { DEFAULT_QUESTION_LIMITS, questionPolicyOf } from '../../src/questions/policy.ts';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'kibitz-config-'));
const file = (dir: string, text: string) => {
  const f = path.join(dir, 'c.yaml');
  writeFileSync(f, text);
  return f;
};
const err = (fn: () => unknown): ConfigError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
};

describe('config', () => {
  it('default.yaml gives the documented defaults, with a generated key kept under dataDir', () => {
    const dir = tmp();
    const c = loadConfig({ env: { KIBITZ_DATA_DIR: dir } });
    expect(c.http).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(c.rtmp).toEqual({ host: '0.0.0.0', port: 1935 });
    expect(c.model.fps).toBe(2);
    expect(c.model.provider).toBe('cpu');
    expect(c.model.temporal).toBe('auto');
    expect(c.queue.kind).toBe('embedded');
    expect(c.ingest.graceMs).toBe(60_000);
    // the bundled model package is the default, and its manifest sets the frame size
    expect(c.model.package).toBe(path.resolve('models/kibitz-demo'));
    const manifest = JSON.parse(readFileSync('models/kibitz-demo/manifest.json', 'utf8'));
    // the demo package has a view reference, so kibitz looks for its picture on the canvas (src/view/)
    expect(c.decode).toEqual({ width: manifest.frame.width, height: manifest.frame.height,
      search: { reference: { file: path.resolve('models/kibitz-demo', manifest.frame.reference.file), aspect: manifest.frame.reference.aspect }, fit: 'letterbox' } });
    expect(Object.keys(c.plugins)).toEqual(['console', 'overlay']);
    expect(c.streams[0]!.name).toBe('main');
    const keyFile = path.join(dir, 'keys', 'main.key');
    expect(c.streams[0]!.key).toBe(readFileSync(keyFile, 'utf8').trim());
    expect(c.streams[0]!.key.length).toBeGreaterThan(16);
    expect(statSync(keyFile).mode & 0o077).toBe(0);
    // Stable across starts.
    expect(loadConfig({ env: { KIBITZ_DATA_DIR: dir } }).streams[0]!.key).toBe(c.streams[0]!.key);
  });

  it('--config file < KIBITZ_* env; upper-snake paths map to camelCase keys and array items', () => {
    const dir = tmp();
    const f = file(dir, `
http: { port: 9001 }
dataDir: ${dir}
streams:
  - { name: main, key: "\${MY_KEY}", discord: { channelId: "42" } }
plugins:
  discord: { token: from-file }
`);
    const c = loadConfig({
      file: f,
      env: {
        MY_KEY: 'secret-main', KIBITZ_HTTP_PORT: '9000', KIBITZ_STREAMS_0_THRESHOLD: '0.7', KIBITZ_PLUGINS_DISCORD_TOKEN: 'tok',
        KIBITZ_PLUGINS_DISCORD_API_BASE: 'http://127.0.0.1:1/api', KIBITZ_INGEST_GRACE_MS: '5000', KIBITZ_MAIN_KEY: 'ignored-not-a-section',
        KIBITZ_MODEL_FPS: '4', KIBITZ_QUEUE_KIND: 'redis', KIBITZ_QUEUE_URL: 'redis://127.0.0.1:6399',
      },
    });
    expect(c.http.port).toBe(9000);
    expect(c.streams).toHaveLength(1);
    expect(c.streams[0]).toMatchObject({ name: 'main', key: 'secret-main', threshold: 0.7, discord: { channelId: '42' } });
    expect(c.plugins.discord).toEqual({ token: 'tok', apiBase: 'http://127.0.0.1:1/api' });
    expect(c.ingest.graceMs).toBe(5000);
    expect(c.model.fps).toBe(4);
    // the Redis options are validated at load: defaults filled in
    expect(c.queue).toMatchObject({ kind: 'redis', url: 'redis://127.0.0.1:6399', capacity: 4, prefix: 'kibitz' });
  });

  it('KIBITZ_STREAMS_0_KEY sets a key; KIBITZ_STREAMS_1_* adds a stream', () => {
    const dir = tmp();
    const c = loadConfig({ env: { KIBITZ_DATA_DIR: dir, KIBITZ_STREAMS_0_KEY: 'k0-abcdef', KIBITZ_STREAMS_1_NAME: 'second', KIBITZ_STREAMS_1_KEY: 'k1-abcdef' } });
    expect(c.streams.map((s) => [s.name, s.key])).toEqual([['main', 'k0-abcdef'], ['second', 'k1-abcdef']]);
  });

  it('decode size comes from the model manifest when a package is set', () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'pkg'));
    writeFileSync(path.join(dir, 'pkg', 'manifest.json'), JSON.stringify({ frame: { width: 224, height: 126, fps: 2 } }));
    const c = loadConfig({ noDefault: true, root: dir, env: {}, overrides: { model: { package: 'pkg' }, dataDir: dir } });
    expect(c.decode).toEqual({ width: 224, height: 126 });
    expect(c.model.package).toBe(path.join(dir, 'pkg'));
    const explicit = loadConfig({ noDefault: true, root: dir, env: {}, overrides: { model: { package: 'pkg' }, decode: { width: 160, height: 90 } } });
    expect(explicit.decode).toEqual({ width: 160, height: 90 });
  });

  it('a package that looks at part of the screen passes its view to the decoder; a bad view names the package', () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'pkg'));
    const write = (view: unknown) => writeFileSync(path.join(dir, 'pkg', 'manifest.json'), JSON.stringify({ frame: { width: 256, height: 144, fps: 2, view } }));
    write([0.25, 0.05, 0.5, 0.9]);
    const load = () => loadConfig({ noDefault: true, root: dir, env: {}, overrides: { model: { package: 'pkg' }, dataDir: dir } });
    expect(load().decode).toEqual({ width: 256, height: 144, view: [0.25, 0.05, 0.5, 0.9] });
    write([0.6, 0, 0.6, 1]);
    expect(err(load)).toMatchObject({ key: 'model.package', problem: expect.stringMatching(/frame\.view: .*not inside the frame/) });
    write('left half');
    expect(err(load).problem).toMatch(/a view is \[x, y, w, h\]/);
  });

  it('a package with a view reference gets the view search; decode.view pins the view and turns it off', () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'pkg'));
    const write = (reference: unknown) => writeFileSync(path.join(dir, 'pkg', 'manifest.json'), JSON.stringify({ frame: { width: 256, height: 144, fps: 2, view: [0.25, 0.05, 0.5, 0.9], reference } }));
    write({ file: 'view_reference.pgm', aspect: 0.9, native: [588, 660] });
    const load = (env: Record<string, string> = {}) => loadConfig({ noDefault: true, root: dir, env, overrides: { model: { package: 'pkg' }, dataDir: dir } });
    expect(load().decode).toEqual({ width: 256, height: 144, view: [0.25, 0.05, 0.5, 0.9],
      search: { reference: { file: path.join(dir, 'pkg', 'view_reference.pgm'), aspect: 0.9, native: [588, 660] }, fit: 'stretch' } });
    // pinned through the environment, as "x,y,w,h": the search is off, the frames say where their view came from
    expect(load({ KIBITZ_DECODE_VIEW: '0.1, 0.2, 0.3, 0.4' }).decode).toEqual({ width: 256, height: 144, view: [0.1, 0.2, 0.3, 0.4], viewFrom: 'config' });
    expect(err(() => load({ KIBITZ_DECODE_VIEW: '0.8,0,0.5,1' }))).toMatchObject({ key: 'decode.view', problem: expect.stringMatching(/not inside the frame/) });
    write({ file: 'view_reference.pgm', aspect: -1 });
    expect(err(load)).toMatchObject({ key: 'model.package', problem: expect.stringMatching(/frame\.reference must be/) });
  });

  it.each([
    [{ KIBITZ_HTTP_PORT: 'abc' }, 'http.port'],
    [{ KIBITZ_HTTP_PORT: '70000' }, 'http.port'],
    [{ KIBITZ_MODEL_PROVIDER: 'tpu' }, 'model.provider'],
    [{ KIBITZ_QUEUE_KIND: 'redis' }, 'queue.url'],
    [{ KIBITZ_STREAMS_0_KEY: 'has space' }, 'streams.0.key'],
    [{ KIBITZ_STREAMS_0_NAME: 'bad/name' }, 'streams.0.name'],
    [{ KIBITZ_MODEL_FPS: '0' }, 'model.fps'],
    [{ KIBITZ_MODEL_TEMPORAL: 'sometimes' }, 'model.temporal'],
    // queue, plugin options and chat routes are part of the one config, checked at load
    [{ KIBITZ_QUEUE_KIND: 'redis', KIBITZ_QUEUE_URL: 'redis://h:6379', KIBITZ_QUEUE_CAPACITY: '0' }, 'queue.capacity'],
    [{ KIBITZ_QUEUE_KIND: 'redis', KIBITZ_QUEUE_URL: 'redis://h:6379', KIBITZ_QUEUE_CAPACTY: '3' }, 'queue'],
    [{ KIBITZ_QUEUE_KIND: 'kafka' }, 'queue.kind'],
    [{ KIBITZ_PLUGINS_TWITCH_PORT: 'x' }, 'plugins.twitch.port'],
    [{ KIBITZ_PLUGINS_WEBHOOK_SECRET: 's' }, 'plugins.webhook.urls'],
    [{ KIBITZ_PLUGINS_SLACK_TOKEN: 't' }, 'plugins.slackToken'], // an unknown plugin (the env mapper cannot split an unknown name),
    [{ KIBITZ_STREAMS_0_DISCORD_COMMENTARY_PER_MINUTE: '500', KIBITZ_STREAMS_0_DISCORD_CHANNEL_ID: '1' }, 'streams[0].discord.commentaryPerMinute'],
  ])('a bad value names its key: %o', (env, key) => {
    const e = err(() => loadConfig({ env: { KIBITZ_DATA_DIR: tmp(), ...env } }));
    expect(e.key).toBe(key);
    expect(e.problem.length).toBeGreaterThan(3);
    expect(e.message).not.toContain('\n');
  });

  it('unknown top-level keys, missing ${VARS}, duplicate keys and bad YAML are errors', () => {
    const dir = tmp();
    expect(err(() => loadConfig({ file: file(dir, 'htpp: { port: 1 }\n'), env: { KIBITZ_DATA_DIR: dir } })).key).toBe('htpp');
    expect(err(() => loadConfig({ file: file(dir, 'streams: [{ name: a, key: "${NOPE_NOT_SET}" }]\n'), env: { KIBITZ_DATA_DIR: dir } }))).toMatchObject({ key: 'streams.0.key', problem: expect.stringContaining('NOPE_NOT_SET') });
    const dup = err(() => loadConfig({ file: file(dir, 'streams: [{ name: a, key: same-key }, { name: b, key: same-key }]\n'), env: { KIBITZ_DATA_DIR: dir } }));
    expect(dup.key).toBe('streams.1.key');
    expect(dup.message).not.toContain('same-key'); // keys never appear in messages
    expect(err(() => loadConfig({ file: file(dir, 'http: [\n'), env: {} })).problem).toMatch(/invalid YAML/);
    expect(err(() => loadConfig({ file: path.join(dir, 'missing.yaml'), env: {} })).problem).toMatch(/cannot read/);
  });

  it('config/example.yaml is valid once its secrets are set, plugin options and chat routes included', () => {
    const c = loadConfig({ file: 'config/example.yaml', env: { KIBITZ_MAIN_KEY: 'main-key-1', KIBITZ_SECOND_KEY: 'second-key-1', DISCORD_TOKEN: 't', KIBITZ_DATA_DIR: tmp() } });
    expect(c.streams.map((s) => s.name)).toEqual(['main', 'second']);
    // What `kibitz serve` checks before it starts any plugin.
    const plugins = parsePluginConfig(c);
    expect(plugins.plugins.map((p) => p.plugin.name)).toEqual(['console', 'overlay', 'discord', 'twitch', 'webhook']);
    expect(plugins.streams[0]).toMatchObject({ name: 'main', discord: { channelIds: ['123456789012345678'] }, twitch: { channels: ['mychannel'] } });
  });

  it('plugins.questions is validated at load, naming the key; the policy every way in asks is built from it', () => {
    expect(err(() => loadConfig({ noDefault: true, env: { KIBITZ_PLUGINS_QUESTIONS_MAX_QUESTION_CHARS: 'lots' } })).key).toBe('plugins.questions.maxQuestionChars');
    const c = loadConfig({ noDefault: true, env: { KIBITZ_PLUGINS_QUESTIONS_MAX_SUMMARY_MINUTES: '90' } });
    expect(questionPolicyOf(c).limits).toEqual({ ...DEFAULT_QUESTION_LIMITS, maxSummaryMinutes: 90 });
    expect(questionPolicyOf(loadConfig({ noDefault: true, env: {} })).limits).toEqual(DEFAULT_QUESTION_LIMITS);
  });
});
