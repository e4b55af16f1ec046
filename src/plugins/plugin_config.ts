import { QuestionPolicy, questionLimitsSchema } from '../questions/policy.ts';
import { ConfigError } from './errors.ts';
import { builtinPlugins } from './builtin.ts';
import { toPluginStreams, type ConfiguredStream, type StreamConfigLike } from './chat_routes.ts';
import type { KibitzPlugin } from './types.ts';

/** The plugins' part of the config, validated: what `startPlugins` starts. */
export interface PluginConfig {
  /** Each stream's routes, under the name of the plugin that declared them. */
  streams: ConfiguredStream[];
  /** The question policy: top-level `questions`, or the deprecated `plugins.questions`. */
  questions: QuestionPolicy;
  /** Each configured plugin with its options, defaults filled in, in config order. */
  plugins: { plugin: KibitzPlugin<any, any>; options: unknown }[];
}

/**
 * Validates `plugins` (the question policy and every plugin's options) and the streams' chat
 * routes, all before any plugin starts, so a typo stops start-up cleanly; throws a ConfigError
 * naming the key.
 */
export function parsePluginConfig(
  config: { plugins?: Record<string, unknown> | null; streams?: readonly StreamConfigLike[]; questions?: unknown },
  catalogue: readonly KibitzPlugin<any, any>[] = builtinPlugins,
): PluginConfig {
  const fail = (key: string, problem: string): never => {
    throw new ConfigError(key, problem);
  };
  // `plugins.questions` is not a plugin: it holds the question policy shared by all chats (and HTTP).
  const { questions, ...pluginsConfig } = config.plugins ?? {};
  const byName = new Map(catalogue.map((p) => [p.name, p]));
  for (const key of Object.keys(pluginsConfig)) {
    if (!byName.has(key)) fail(`plugins.${key}`, `unknown plugin (known: ${[...byName.keys()].join(', ')})`);
  }
  const streams = toPluginStreams(config.streams ?? [], catalogue, fail);
  const questionsKey = config.questions !== undefined ? 'questions' : 'plugins.questions';
  const limits = questionLimitsSchema.safeParse(config.questions ?? questions ?? {});
  if (!limits.success) fail(`${questionsKey}.${limits.error.issues[0]!.path.join('.')}`, limits.error.issues[0]!.message);

  const plugins: PluginConfig['plugins'] = [];
  for (const [name, raw] of Object.entries(pluginsConfig)) {
    const plugin = byName.get(name)!;
    const r = plugin.options.safeParse(raw ?? {});
    if (!r.success) {
      const issue = r.error.issues[0]!;
      const path = issue.path.length > 0 ? `.${issue.path.join('.')}` : '';
      const problem = issue.code === 'invalid_type' && (issue as { input?: unknown }).input === undefined ? 'Required' : issue.message;
      fail(`plugins.${name}${path}`, problem);
    }
    plugins.push({ plugin, options: r.data });
  }
  return { streams, questions: new QuestionPolicy(limits.data!), plugins };
}
