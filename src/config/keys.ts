import type { z } from 'zod';

type Def = {
  type: string;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  valueType?: z.ZodType;
  getter?: () => z.ZodType;
};
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/**
 * Every object key a schema accepts, at any depth (through optional/default/pipe/array/union).
 * The env mapper (load.ts) uses it to split KIBITZ_PLUGINS_DISCORD_API_BASE into
 * plugins.discord.apiBase, so a new option is known the moment a schema declares it.
 */
export function schemaKeys(schema: z.ZodType, into = new Set<string>(), seen = new Set<z.ZodType>()): Set<string> {
  if (seen.has(schema)) return into;
  seen.add(schema);
  const d = defOf(schema);
  const walk = (s: z.ZodType | undefined) => s && schemaKeys(s, into, seen);
  if (d.shape) {
    for (const [k, v] of Object.entries(d.shape)) {
      into.add(k);
      walk(v);
    }
  }
  walk(d.catchall);
  walk(d.innerType);
  walk(d.in);
  walk(d.out);
  walk(d.element);
  walk(d.valueType);
  d.options?.forEach(walk);
  if (d.type === 'lazy' && d.getter) walk(d.getter());
  return into;
}

/** The top-level keys of an object schema (the config's sections). */
export function topLevelKeys(schema: z.ZodType): string[] {
  return Object.keys(defOf(schema).shape ?? {});
}
