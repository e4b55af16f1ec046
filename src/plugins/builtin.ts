import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { KibitzPlugin } from './types.ts';

/** Where the plugins kibitz ships live: one folder each, its `index.ts` default-exporting the plugin. */
export const PLUGINS_DIR = fileURLToPath(new URL('../../plugins/', import.meta.url));

/**
 * Finds the plugins in `dir`: every folder with an `index.ts` whose default export is a plugin
 * named like the folder. Adding a chat platform is one folder there, no change to the core.
 * What is read here is each plugin's declaration (name, options and route schemas: what loading
 * the config checks); a plugin's own code and its libraries (discord.js, @twurple) come in with
 * its setup, which runs only where plugins run (`kibitz serve`) and only for the plugins the
 * config names (`plugins.<name>`). test/cli/no_chat_libraries.test.ts holds it to that.
 */
export async function discoverPlugins(dir: string = PLUGINS_DIR): Promise<KibitzPlugin<any, any>[]> {
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(path.join(dir, e.name, 'index.ts')))
    .map((e) => e.name)
    .sort();
  const found: KibitzPlugin<any, any>[] = [];
  for (const name of names) {
    const mod = (await import(pathToFileURL(path.join(dir, name, 'index.ts')).href)) as { default?: Partial<KibitzPlugin<unknown>> };
    const p = mod.default;
    if (!p || typeof p.setup !== 'function' || !p.options) throw new Error(`plugins/${name}/index.ts must default-export definePlugin({ name, options, setup })`);
    if (p.name !== name) throw new Error(`plugins/${name}/index.ts names its plugin "${String(p.name)}": name it "${name}", like its folder`);
    found.push(p as KibitzPlugin<any, any>);
  }
  return found;
}

/** The plugins kibitz ships (found at start-up, before any config is read). */
export const builtinPlugins: readonly KibitzPlugin<any, any>[] = await discoverPlugins();
