import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';

const configWith = (overrides: Record<string, unknown>) =>
  loadConfig({ noDefault: true, env: {}, overrides: { http: { port: 0 }, rtmp: { port: 0 }, ...overrides } });

/** Builds (never starts) an app and returns what it logged. */
function logOf(config: ReturnType<typeof configWith>): { app: ReturnType<typeof createApp>; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', format: 'json', destination: { write: (s: string) => void lines.push(s) } });
  return { app: createApp(config, { log }), lines };
}

describe('questions: a top-level key; plugins.questions still read', () => {
  it('top-level questions sets the gate\'s policy, and nothing is said about it', async () => {
    const { app, lines } = logOf(configWith({ questions: { maxQuestionChars: 42 } }));
    expect(app.questions.policy.limits.maxQuestionChars).toBe(42);
    expect(lines.join('')).not.toContain('deprecated');
    await app.close();
  });

  it('plugins.questions still works, with one deprecation line in the log', async () => {
    const { app, lines } = logOf(configWith({ plugins: { questions: { maxQuestionChars: 41 } } }));
    expect(app.questions.policy.limits.maxQuestionChars).toBe(41);
    expect(lines.filter((l) => l.includes('plugins.questions is deprecated'))).toHaveLength(1);
    await app.close();
  });

  it('both set: the top-level key wins, and the log says so', async () => {
    const { app, lines } = logOf(configWith({ questions: { maxQuestionChars: 50 }, plugins: { questions: { maxQuestionChars: 41 } } }));
    expect(app.questions.policy.limits.maxQuestionChars).toBe(50);
    expect(lines.join('')).toContain('both are set: questions: is used');
    await app.close();
  });

  it('a bad value under questions names its key', () => {
    expect(() => configWith({ questions: { cooldownMs: -1 } })).toThrow(/^questions\.cooldownMs: /);
  });
});
