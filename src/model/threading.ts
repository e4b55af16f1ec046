import os from 'node:os';
import type { Provider } from './provider.ts';

/**
 * How the model's ONNX sessions use CPU threads. kibitz steps its streams one after another
 * (one engine loop), each step a few milliseconds of small matrices, next to one ffmpeg decoder
 * per stream. Measured on the 2-core machine (issue 16): onnxruntime's default pools (a thread
 * per core, spinning while idle) made one stream cost 35% of a core against 8% with one thread,
 * and starved the decoders. So: one intra-op thread on small machines, a few on big ones, no
 * spinning, sequential execution.
 */
export interface ThreadingConfig {
  /** Threads inside one operator; 'auto' = 1 up to 4 cores, then a quarter of the cores (at most 4). */
  intraOp: number | 'auto';
  /** Threads across independent operators; 'auto' = 1 (the graphs are chains). */
  interOp: number | 'auto';
  /** Let idle pool threads spin for the next op: lower latency for one busy stream, wasted CPU for many. */
  spinning: boolean;
}

export const DEFAULT_THREADING: ThreadingConfig = { intraOp: 'auto', interOp: 'auto', spinning: false };

export interface Threading {
  intraOp: number;
  interOp: number;
  spinning: boolean;
}

export function resolveThreading(cfg: Partial<ThreadingConfig> = {}, provider: Provider = 'cpu', cores = os.availableParallelism()): Threading {
  const c = { ...DEFAULT_THREADING, ...cfg };
  // On a GPU the CPU threads only feed the device.
  const autoIntra = provider !== 'cpu' || cores <= 4 ? 1 : Math.min(4, Math.floor(cores / 4));
  return {
    intraOp: c.intraOp === 'auto' ? autoIntra : c.intraOp,
    interOp: c.interOp === 'auto' ? 1 : c.interOp,
    spinning: c.spinning,
  };
}
