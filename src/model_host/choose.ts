import type { Config } from '../config/schema.ts';
import { embeddedModelHost } from './embedded.ts';
import type { ModelHost } from './port.ts';
import { remoteModelHost } from './remote.ts';

/**
 * The host `kibitz serve` builds its app with: workers behind Redis (`queue.kind: redis`), the
 * model in this process (`model.package`), or none (ingest only: nobody comments).
 */
export function modelHostFor(config: Pick<Config, 'queue' | 'model'>): ModelHost | undefined {
  if (config.queue.kind === 'redis') return remoteModelHost();
  if (config.model.package) return embeddedModelHost();
  return undefined;
}
