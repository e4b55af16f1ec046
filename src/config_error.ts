/**
 * A configuration problem that stops start-up. `key` is the dotted path ("http.port",
 * "streams.0.key"); the CLI prints `config error: <key>: <problem>` and exits 2.
 */
export class ConfigError extends Error {
  constructor(readonly key: string, readonly problem: string) {
    super(`${key}: ${problem}`);
    this.name = 'ConfigError';
  }
}
