import type { Logger } from 'pino';
import type { EventBus } from '../bus.ts';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../config_error.ts';
import { engineOptionsFromConfig, ModelEngine, type EngineOptions } from '../model/engine.ts';
import type { Model } from '../model/model.ts';
import { TemporalModeError } from '../model/temporal_drop.ts';

/**
 * The engine a config asks for (embedded host and Redis workers alike): options from the config,
 * then `overrides`. A setting the package cannot honour stops start-up as a ConfigError naming
 * its key (the CLI prints it and exits 2); the model layer itself knows no config keys.
 */
export function engineFor(model: Model, bus: EventBus, log: Logger, config: Pick<Config, 'model' | 'streams'>, overrides: Partial<EngineOptions> = {}): ModelEngine {
  try {
    return new ModelEngine(model, bus, log, { ...engineOptionsFromConfig(config), ...overrides });
  } catch (err) {
    if (err instanceof TemporalModeError) throw new ConfigError('model.temporal', err.message);
    throw err;
  }
}
