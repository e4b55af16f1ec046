import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PLUGINS = path.join(ROOT, 'plugins');
const SDK = path.join(ROOT, 'src/plugins/sdk.ts');

/** `from '...'`, `import '...'`, `import('...')`, `require('...')`: every module a file names. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)(['"])([^'"]+)\1/g;

/**
 * The relative imports of `file` (under plugins/<name>/) that leave its plugin's folder for
 * anything but the SDK module. npm packages are fine.
 */
function escapes(file: string, source: string): string[] {
  const own = path.join(PLUGINS, path.relative(PLUGINS, file).split(path.sep)[0]!) + path.sep;
  const out: string[] = [];
  for (const m of source.matchAll(SPECIFIER)) {
    const spec = m[2]!;
    if (!spec.startsWith('.') && !spec.startsWith('/')) continue;
    const target = path.resolve(path.dirname(file), spec);
    if (target !== SDK && !target.startsWith(own)) out.push(spec);
  }
  return out;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : tsFiles(p);
    return /\.(m|c)?tsx?$/.test(e.name) ? [p] : [];
  });
}

describe('plugins see one surface of the core', () => {
  it('every file under plugins/ imports the core only through src/plugins/sdk.ts', () => {
    const files = tsFiles(PLUGINS);
    expect(files.length).toBeGreaterThan(10);
    const bad = files.flatMap((f) => escapes(f, readFileSync(f, 'utf8')).map((spec) => `${path.relative(ROOT, f)}: ${spec}`));
    expect(bad, 'import these through src/plugins/sdk.ts (add to it what a plugin needs)').toEqual([]);
  });

  it('the check catches a plugin reaching past the SDK or into another plugin', () => {
    const file = path.join(PLUGINS, 'twitch/bot.ts');
    const src = [
      "import { z } from 'zod';",
      "import { ChatCommands } from '../../src/plugins/sdk.ts';",
      "import type { TwitchOptions } from './options.ts';",
      "import { userMessage } from '../../src/plugins/errors.ts';",
      "export { formatStreamTime } from '../../src/events.ts';",
      "import { discordText } from '../discord/text.ts';",
      "const lazy = await import('../../src/plugins/host.ts');",
    ].join('\n');
    expect(escapes(file, src)).toEqual(['../../src/plugins/errors.ts', '../../src/events.ts', '../discord/text.ts', '../../src/plugins/host.ts']);
  });
});
