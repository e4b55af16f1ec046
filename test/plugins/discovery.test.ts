import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { builtinPlugins, discoverPlugins } from '../../src/plugins/builtin.ts';

// Inside the repo, so a plugin file resolves the SDK and zod like a real plugin folder does.
const made: string[] = [];
function pluginsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(import.meta.dirname, '.discovery-'));
  made.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}
const SDK = JSON.stringify(path.resolve('src/plugins/sdk.ts'));
const plugin = (name: string) => `import { z } from 'zod';\nimport { definePlugin } from ${SDK};\nexport default definePlugin({ name: '${name}', options: z.object({}), setup: () => () => {} });\n`;

afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('plugin discovery', () => {
  it('the shipped plugins are the folders under plugins/', () => {
    expect(builtinPlugins.map((p) => p.name)).toEqual(['console', 'discord', 'overlay', 'twitch', 'webhook']);
  });

  it('a new chat platform is one folder: found by its index.ts, nothing else to register', async () => {
    const dir = pluginsDir({ 'matrix/index.ts': plugin('matrix'), 'notes/README.md': 'not a plugin: no index.ts\n' });
    expect((await discoverPlugins(dir)).map((p) => p.name)).toEqual(['matrix']);
  });

  it('a folder whose plugin has another name, or no plugin, is a clear error', async () => {
    await expect(discoverPlugins(pluginsDir({ 'slack/index.ts': plugin('slak') }))).rejects.toThrow('plugins/slack/index.ts names its plugin "slak": name it "slack", like its folder');
    await expect(discoverPlugins(pluginsDir({ 'irc/index.ts': 'export const x = 1;\n' }))).rejects.toThrow('plugins/irc/index.ts must default-export definePlugin');
  });
});
