import { BrainError, type AnswerResult, type AskRequest, type Brain, type SummaryResult } from '../brain.ts';
import { OPEN_HELP } from '../questions/kinds.ts';

/**
 * The Brain a host hands out before its model is there: the app and the plugins keep one object
 * for the life of the process, and a question asked while the model loads (or after it closed)
 * gets NO_MODEL, as it would with no model at all.
 */
export class LateBrain implements Brain {
  private target: Brain | undefined;

  constructor(private readonly notReady: string) {}

  /** Called by the host that owns this brain: once loaded, and with undefined when it closes. */
  serve(target: Brain | undefined): void {
    this.target = target;
  }

  get ready(): boolean {
    return this.target !== undefined;
  }

  async ask(req: AskRequest, signal?: AbortSignal): Promise<AnswerResult> {
    return this.now().ask(req, signal);
  }

  async summary(stream: string, minutes: number, signal?: AbortSignal): Promise<SummaryResult> {
    return this.now().summary(stream, minutes, signal);
  }

  /** What can be asked; OPEN_HELP where the model side cannot say. */
  help(stream: string): string {
    return this.now().help?.(stream) ?? OPEN_HELP;
  }

  private now(): Brain {
    if (!this.target) throw new BrainError('NO_MODEL', this.notReady);
    return this.target;
  }
}
