import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { ConfigError } from '../config_error.ts';
import { checkView, type FrameScaler, type FrameView } from '../decode/filter.ts';
import { parsePluginConfig } from '../plugins/plugin_config.ts';
import { builtinPlugins } from '../plugins/builtin.ts';
import { schemaKeys, topLevelKeys } from './keys.ts';
import { configSchema, type Config } from './schema.ts';
import { referenceSchema, type ReferenceSpec } from '../view/reference.ts';

export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../../config/default.yaml', import.meta.url));
/** Where relative paths (dataDir, model.package) are resolved: the checkout, so `npm start` works from anywhere. */
export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Frame size when no model package says otherwise. */
export const FALLBACK_FRAME = { width: 192, height: 108 };

export interface LoadOptions {
  /** `--config FILE`, merged over the default file. */
  file?: string;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Extra values merged last (tests). */
  overrides?: Record<string, unknown>;
  /** Skip config/default.yaml (tests that want only their own values). */
  noDefault?: boolean;
  /** Base for relative paths; PROJECT_ROOT by default. */
  root?: string;
  /** false: do not create missing "auto" key files (tools that only read the config). */
  generateKeys?: boolean;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Load, merge (default < file < env < overrides), interpolate `${VAR}`, validate and resolve. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const root = opts.root ?? PROJECT_ROOT;
  let merged: Obj = opts.noDefault ? {} : readYaml(DEFAULT_CONFIG_FILE, 'config/default.yaml');
  if (opts.file) merged = deepMerge(merged, readYaml(path.resolve(opts.file), opts.file));
  merged = interpolate(merged, env, '') as Obj;
  applyEnv(merged, env);
  if (opts.overrides) merged = deepMerge(merged, opts.overrides);

  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.map(String).join('.') || '(root)';
    const problem = issue.code === 'unrecognized_keys'
      ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (typo?)`
      : issue.message;
    throw new ConfigError(issue.code === 'unrecognized_keys' && key === '(root)' ? issue.keys[0]! : key, problem);
  }
  const c = parsed.data;
  const dataDir = path.resolve(root, c.dataDir);
  const pkg = c.model.package ? path.resolve(root, c.model.package) : undefined;
  const frame = readManifestFrame(pkg);
  const streams = c.streams.map((s, i) => ({ ...s, key: s.key === 'auto' && (opts.generateKeys !== false || existsSync(autoKeyFile(dataDir, s.name))) ? autoKey(dataDir, s.name, `streams.${i}.key`) : s.key }));
  checkUnique(streams.map((s) => s.name), 'name');
  checkUnique(streams.map((s) => s.key), 'key', true);
  // Every plugin's options and each stream's chat routes, checked now by the plugins' own schemas,
  // so a typo stops start-up before anything listens (the host parses them again when it starts them).
  parsePluginConfig({ plugins: c.plugins, streams });
  return {
    ...c,
    dataDir,
    model: { ...c.model, package: pkg, fps: c.model.fps },
    decode: {
      width: c.decode.width ?? frame?.width ?? FALLBACK_FRAME.width,
      height: c.decode.height ?? frame?.height ?? FALLBACK_FRAME.height,
      ...(c.decode.view ? { view: checkView(c.decode.view) } : frame?.view ? { view: frame.view } : {}),
      ...(c.decode.view ? { viewFrom: 'config' as const } : {}),
      ...(frame?.scaler ? { scaler: frame.scaler } : {}),
      ...(!c.decode.view && frame?.reference && pkg
        ? { search: { reference: { ...frame.reference, file: path.join(pkg, frame.reference.file) }, fit: frame.view ? 'stretch' as const : 'letterbox' as const } }
        : {}),
    },
    streams,
    source: opts.file,
  };
}

function readYaml(file: string, label: string): Obj {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(label, `cannot read file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    const v = YAML.parse(text) ?? {};
    if (!isObj(v)) throw new Error('the top level must be a mapping');
    return v;
  } catch (err) {
    throw new ConfigError(label, `invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
}

function deepMerge(a: Obj, b: Obj): Obj {
  const out: Obj = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isObj(v) && isObj(out[k]) ? deepMerge(out[k] as Obj, v) : v;
  return out;
}

/** `${VAR}` and `${VAR:-default}` in string values, so secrets can stay in the environment. */
function interpolate(v: unknown, env: NodeJS.ProcessEnv, at: string): unknown {
  if (typeof v === 'string') {
    return v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, def: string | undefined) => {
      const val = env[name];
      if (val !== undefined && val !== '') return val;
      if (def !== undefined) return def;
      throw new ConfigError(at || '(root)', `environment variable ${name} is not set`);
    });
  }
  if (Array.isArray(v)) return v.map((x, i) => interpolate(x, env, at ? `${at}.${i}` : String(i)));
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x, env, at ? `${at}.${k}` : k)]));
  return v;
}

const upperSnake = (k: string) => k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
const camel = (tokens: string[]) => tokens.map((t, i) => (i === 0 ? t.toLowerCase() : t[0]! + t.slice(1).toLowerCase())).join('');
const TOP_LEVEL = new Set(topLevelKeys(configSchema));
/** camelCase keys the env mapper knows (so KIBITZ_DATA_DIR finds dataDir): whatever the schemas declare. */
const KNOWN_KEYS = [...builtinPlugins.reduce((keys, p) => {
  keys.add(p.name);
  schemaKeys(p.options, keys);
  if (p.route) schemaKeys(p.route, keys);
  return keys;
}, schemaKeys(configSchema))];

/**
 * KIBITZ_HTTP_PORT=9000 -> http.port; KIBITZ_STREAMS_0_KEY -> streams[0].key;
 * KIBITZ_PLUGINS_DISCORD_API_BASE -> plugins.discord.apiBase. At each level the longest known
 * key wins; an unknown rest becomes one camelCase key. Variables whose first segment is not a
 * config section (KIBITZ_MAIN_KEY used for `${...}`) are left alone.
 */
function applyEnv(target: Obj, env: NodeJS.ProcessEnv): void {
  const names = Object.keys(env).filter((n) => n.startsWith('KIBITZ_')).sort();
  for (const name of names) {
    const tokens = name.slice('KIBITZ_'.length).split('_').filter(Boolean);
    const first = matchKey(tokens, Object.keys(target), [...TOP_LEVEL]);
    if (!first || !TOP_LEVEL.has(first.key)) continue;
    let node: Obj | unknown[] = target;
    let rest = tokens;
    let key: string | number = '';
    for (;;) {
      if (Array.isArray(node)) {
        if (!/^\d+$/.test(rest[0]!)) break;
        key = Number(rest[0]);
        rest = rest.slice(1);
      } else {
        const m = matchKey(rest, Object.keys(node), KNOWN_KEYS) ?? { key: camel(rest), used: rest.length };
        key = m.key;
        rest = rest.slice(m.used);
      }
      if (rest.length === 0) {
        (node as Record<string | number, unknown>)[key] = env[name];
        break;
      }
      const container = node as Record<string | number, unknown>;
      if (!isObj(container[key]) && !Array.isArray(container[key])) container[key] = /^\d+$/.test(rest[0]!) && key === 'streams' ? [] : {};
      node = container[key] as Obj | unknown[];
    }
  }
}

function matchKey(tokens: string[], ...candidates: string[][]): { key: string; used: number } | undefined {
  let best: { key: string; used: number } | undefined;
  for (const k of candidates.flat()) {
    const parts = upperSnake(k).split('_');
    if (parts.length <= tokens.length && parts.every((p, i) => p === tokens[i]) && (!best || parts.length > best.used)) best = { key: k, used: parts.length };
  }
  return best;
}

/** The frame the package was trained on: its size, its scaler, and, when it looks at part of the screen, its view. */
function readManifestFrame(pkg: string | undefined): { width: number; height: number; view?: FrameView; scaler?: FrameScaler; reference?: ReferenceSpec } | undefined {
  if (!pkg) return undefined;
  const file = path.join(pkg, 'manifest.json');
  if (!existsSync(file)) return undefined;
  let m: { frame?: { width?: unknown; height?: unknown; view?: unknown; scaler?: unknown; reference?: unknown } };
  try {
    m = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError('model.package', `cannot read ${file}: ${(err as Error).message}`);
  }
  const { width, height, view, scaler: rawScaler } = m.frame ?? {};
  if (typeof width !== 'number' || typeof height !== 'number') return undefined;
  if (rawScaler !== undefined && rawScaler !== 'bilinear' && rawScaler !== 'bicubic') {
    throw new ConfigError('model.package', `${file}: frame.scaler must be "bilinear" or "bicubic", got ${JSON.stringify(rawScaler)}`);
  }
  const scaler = rawScaler as FrameScaler | undefined;
  const ref = m.frame?.reference === undefined ? undefined : referenceSchema.safeParse(m.frame.reference);
  if (ref && !ref.success) {
    throw new ConfigError('model.package', `${file}: frame.reference must be { "file": "<pgm in the package>", "aspect": <width / height>, "native"?: [w, h] }, got ${JSON.stringify(m.frame!.reference)} (${ref.error.issues[0]?.message})`);
  }
  const reference = ref?.data && { file: ref.data.file, aspect: ref.data.aspect, ...(ref.data.native ? { native: ref.data.native } : {}) };
  const extra = { ...(scaler ? { scaler } : {}), ...(reference ? { reference } : {}) };
  if (view === undefined) return { width, height, ...extra };
  try {
    if (!Array.isArray(view)) throw new Error(`a view is [x, y, w, h] in fractions of the frame, got ${JSON.stringify(view)}`);
    return { width, height, view: checkView(view), ...extra };
  } catch (err) {
    throw new ConfigError('model.package', `${file}: frame.view: ${(err as Error).message}`);
  }
}

/** A random key generated on first start and kept (mode 0600), so the default config has no shared secret. */
function autoKey(dataDir: string, stream: string, at: string): string {
  const file = path.join(dataDir, 'keys', `${stream}.key`);
  try {
    if (existsSync(file)) return readFileSync(file, 'utf8').trim();
    mkdirSync(path.dirname(file), { recursive: true });
    const key = `${stream}-${randomBytes(12).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x')}`;
    writeFileSync(file, key + '\n', { mode: 0o600 });
    return key;
  } catch (err) {
    throw new ConfigError(at, `"auto" key: cannot use ${file} (${(err as Error).message})`);
  }
}

/** The file that holds an "auto" key, for the startup message (the key itself is never logged). */
export function autoKeyFile(dataDir: string, stream: string): string {
  return path.join(dataDir, 'keys', `${stream}.key`);
}

function checkUnique(values: string[], field: string, secret = false): void {
  const seen = new Map<string, number>();
  values.forEach((v, i) => {
    if (seen.has(v)) throw new ConfigError(`streams.${i}.${field}`, secret ? `same key as streams.${seen.get(v)} (each stream needs its own key)` : `duplicate stream name "${v}"`);
    seen.set(v, i);
  });
}
