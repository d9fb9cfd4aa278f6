import createDebug from 'debug';
import { SignalsOwnedError } from './errors.js';

const log = createDebug('job-iteration:signals');

export type StopSignal = 'SIGTERM' | 'SIGINT' | 'SIGQUIT';

export interface SignalHandlers {
  /** First TERM/INT: stop gracefully (let the current iteration finish, checkpoint, exit). */
  graceful(signal: StopSignal): void;
  /** A second TERM/INT, or QUIT: stop now. */
  urgent(signal: StopSignal): void;
}

export interface TrapOptions {
  /**
   * Whether a second TERM/INT means "stop now". True for a process a person or an orchestrator talks to directly.
   * A supervised worker sets it false: a process-group signal (Ctrl-C in a terminal, systemd's control-group
   * kill) reaches it alongside the supervisor's own forward, and two copies of one stop must not escalate. Its
   * supervisor escalates with SIGQUIT instead.
   * @defaultValue true
   */
  repeatIsUrgent?: boolean;
}

let owner: { release(): void } | undefined;

/**
 * Makes the caller the one owner of this process's stop signals. Importing the library installs nothing; this
 * project's worker, supervisor and CLI call this once. A second owner is refused, because two handlers each
 * deciding when to exit is how jobs get cut mid-iteration.
 */
export function trapStopSignals(handlers: SignalHandlers, options: TrapOptions = {}): { release(): void } {
  if (owner) throw new SignalsOwnedError();
  const repeatIsUrgent = options.repeatIsUrgent ?? true;
  let received = 0;
  const onSignal = (signal: StopSignal) => {
    received++;
    log('%s received (%d so far)', signal, received);
    if (signal === 'SIGQUIT' || (repeatIsUrgent && received > 1)) handlers.urgent(signal);
    else if (received === 1) handlers.graceful(signal);
  };
  const signals: StopSignal[] = ['SIGTERM', 'SIGINT', 'SIGQUIT'];
  for (const s of signals) process.on(s, onSignal);
  const handle = {
    release() {
      for (const s of signals) process.off(s, onSignal);
      if (owner === handle) owner = undefined;
    },
  };
  owner = handle;
  return handle;
}
