import type { Registry } from 'prom-client';
import type { Brain } from '../brain.ts';
import type { EventBus } from '../bus.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { ModelStatsSource } from '../metrics.ts';
import type { StreamSession } from '../stream/session.ts';

/**
 * What a model host is given by the app it serves, when the app starts: the parts it publishes
 * to and reads from. A host never sees the app itself, so the model side sits below the
 * composition root in the import graph (src/app.ts takes a host; nothing here imports the app).
 */
export interface HostParts {
  config: Config;
  log: Logger;
  /** Where the model's commentary, answers and summaries are published. */
  bus: EventBus;
  metrics: { readonly registry: Registry; addModelStats(read: ModelStatsSource): void };
  /** The app's live stream sessions (a question names a stream; a late host picks up running ones). */
  sessions: { list(): StreamSession[]; get(name: string): StreamSession | undefined };
}

/**
 * Where the model runs, chosen once when the app is built (`createApp(config, { modelHost })`):
 * in this process (embedded.ts) or on `kibitz worker` processes behind Redis (remote.ts,
 * with worker.ts on the other side). The app asks it questions through `brain`, hands it
 * every stream session once `start` has resolved, and closes it first on shutdown.
 */
export interface ModelHost {
  /** ask / summary / help for the HTTP API and the plugins; NO_MODEL until `start` has resolved. */
  readonly brain: Brain;
  /** Loads the model or connects to the cluster; the app calls it once, after it listens. */
  start(parts: HostParts, signal?: AbortSignal): Promise<void>;
  /** Takes a stream session's frames until the session ends. Only after `start`. */
  consume(session: StreamSession): void;
  /** The model side's fields for one stream in /api/streams (model counters, owning worker, lag). */
  streamInfo(name: string): Record<string, unknown> | undefined;
  /** Idempotent: stops taking frames, fails waiting questions, frees the model. */
  close(): Promise<void>;
}
