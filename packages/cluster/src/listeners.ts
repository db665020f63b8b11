/** A list of callbacks where one failing callback neither stops the others nor the caller. */
export class Listeners<Args extends unknown[]> {
  private readonly handlers: Array<(...args: Args) => void> = [];

  constructor(private readonly onError: (error: unknown) => void) {}

  add(handler: (...args: Args) => void): void {
    this.handlers.push(handler);
  }

  emit(...args: Args): void {
    for (const handler of this.handlers) {
      try {
        handler(...args);
      } catch (error) {
        this.onError(error);
      }
    }
  }
}
