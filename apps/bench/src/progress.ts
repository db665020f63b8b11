/**
 * Progress lines on stderr while a phase runs, so stdout stays clean for the table or JSON. A phase
 * supplies a function that describes its current state; it is printed once a second.
 */
export class Progress {
  private timer: NodeJS.Timeout | undefined;
  private phaseStarted = 0;

  constructor(
    private readonly scenario: string,
    private readonly quiet: boolean,
  ) {}

  log(message: string): void {
    if (!this.quiet) process.stderr.write(`[${this.scenario}] ${message}\n`);
  }

  /** Starts printing `describe()` every `everyMs` until `end()` or the next `phase()`. */
  phase(name: string, describe: () => string, everyMs = 1000): void {
    this.end();
    this.phaseStarted = performance.now();
    if (this.quiet) return;
    this.timer = setInterval(() => {
      const elapsed = ((performance.now() - this.phaseStarted) / 1000).toFixed(1);
      this.log(`${name} ${elapsed}s ${describe()}`);
    }, everyMs);
    this.timer.unref();
  }

  end(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
