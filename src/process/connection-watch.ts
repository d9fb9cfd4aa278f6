/** What a connection watch needs of a Redis client: its connection events. */
interface ConnectionEvents {
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'reconnecting' | 'ready', listener: () => void): unknown;
}

/**
 * One log line when a process loses Redis and one when it has it back, however many clients notice and however
 * many times each retries: an outage is one event to an operator, not a page of reconnect errors with stacks.
 * Every client of the process reports to the same watch.
 */
export class ConnectionWatch {
  #down = false;

  /** `service` names what is lost in the lines: `Redis` or `PostgreSQL`. */
  constructor(
    private readonly log: (line: string) => void,
    private readonly service: 'Redis' | 'PostgreSQL' = 'Redis',
  ) {}

  /** Whether the server is known to be unreachable now. */
  get down(): boolean {
    return this.#down;
  }

  /** Listens to a client's connection events; the listener also keeps ioredis from printing unhandled errors. */
  watch(client: ConnectionEvents): void {
    client.on('error', (error) => this.lost(error));
    client.on('reconnecting', () => this.lost());
    client.on('ready', () => this.back());
  }

  /** An error from a client of this process (a BullMQ worker's, say): the first of an outage is logged. */
  lost(error?: Error): void {
    if (this.#down) return;
    this.#down = true;
    this.log(`${this.service} connection lost${error ? ` (${error.message})` : ''}; retrying until it is back`);
  }

  back(): void {
    if (!this.#down) return;
    this.#down = false;
    this.log(`${this.service} connection back`);
  }
}
