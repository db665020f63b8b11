import type { Logger } from './logger.js';

/**
 * A log line budget: at most `perMinute` lines a minute, the rest counted and reported in one line
 * once the minute is over. For entries a client can cause at will, so misbehaving cannot fill the
 * disk or bury everything else.
 */
export class LogBudget {
  private windowStart = 0;
  private lines = 0;
  private suppressed = 0;

  constructor(private readonly perMinute: number) {}

  /** Writes the line unless this minute's budget is spent. */
  write(log: Logger, level: 'debug' | 'info' | 'warn' | 'error', obj: object, msg: string): void {
    const now = Date.now();
    if (now - this.windowStart >= 60_000) {
      if (this.suppressed > 0) log[level]({ suppressed: this.suppressed }, `${msg} (more, not logged)`);
      this.windowStart = now;
      this.lines = 0;
      this.suppressed = 0;
    }
    if (this.lines >= this.perMinute) {
      this.suppressed++;
      return;
    }
    this.lines++;
    log[level](obj, msg);
  }
}
