import type { Logger } from './logger.js';

/** Lines per minute; what goes beyond is counted and reported in one line when the minute is over. */
const LINES_PER_MINUTE = 20;

/**
 * Logs what clients did wrong (broken frames, bad encodings, refused connections) at debug level,
 * as one short line without a stack trace and without the client's address, and at most
 * `LINES_PER_MINUTE` lines a minute: a client must not be able to fill the disk or bury real
 * problems by misbehaving.
 */
export class ClientErrorLog {
  private windowStart = 0;
  private lines = 0;
  private suppressed = 0;

  constructor(
    private readonly log: Logger,
    private readonly level: 'debug' | 'info' = 'debug',
  ) {}

  /** `what` names the kind of fault; `error` is described by its code and message only. */
  note(what: string, error?: unknown): void {
    if (!this.log.isLevelEnabled(this.level)) return;
    const now = Date.now();
    if (now - this.windowStart >= 60_000) {
      if (this.suppressed > 0) {
        this.log[this.level]({ suppressed: this.suppressed }, 'client errors not logged in the last minute');
      }
      this.windowStart = now;
      this.lines = 0;
      this.suppressed = 0;
    }
    if (this.lines >= LINES_PER_MINUTE) {
      this.suppressed++;
      return;
    }
    this.lines++;
    this.log[this.level](describe(error), what);
  }
}

function describe(error: unknown): Record<string, unknown> {
  if (error === undefined) return {};
  if (!(error instanceof Error)) return { error: String(error) };
  const code = (error as { code?: unknown }).code;
  return { error: error.message, ...(code !== undefined ? { code } : {}) };
}
