import { GateError } from '../questions/gate.ts';

// The gate's refusals, for plugins that tell them apart (the gate itself is src/questions/gate.ts).
export { GateError, type GateErrorCode } from '../questions/gate.ts';
// The foundation's ConfigError (key, problem): the CLI prints `key: problem` and exits 2.
export { ConfigError } from '../config_error.ts';

/** One place for what an asker is told; short enough for any chat. */
export function userMessage(err: unknown): string {
  if (err instanceof GateError || (err instanceof Error && 'code' in err)) {
    const code = (err as { code: string }).code;
    switch (code) {
      case 'COOLDOWN': {
        const s = Math.ceil(((err as GateError).retryAfterMs ?? 1000) / 1000);
        return `please wait ${s}s before asking again.`;
      }
      case 'BUSY': return "I'm busy with other questions right now, try again in a moment.";
      case 'BAD_REQUEST': return `I can't take that: ${err.message}`;
      case 'UNKNOWN_STREAM': return "that stream isn't known here.";
      case 'STREAM_ENDED': return 'that stream has ended.';
      case 'NO_MODEL': return "the model isn't available right now.";
      case 'TIMEOUT': return 'that took too long, sorry; try again.';
      case 'ABORTED': return 'shutting down, try again later.';
    }
  }
  return 'something went wrong answering that.';
}
