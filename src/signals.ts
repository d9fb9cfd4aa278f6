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

const SIGNALS: readonly StopSignal[] = ['SIGTERM', 'SIGINT', 'SIGQUIT'];

/** The exclusive owner (a CLI command, the supervisor), or the components sharing the signals (workers). */
let owner: { release(): void } | undefined;
const sharers = new Set<{ handlers: SignalHandlers; received: number; repeatIsUrgent: boolean }>();

function dispatch(signal: StopSignal): void {
  for (const sharer of [...sharers]) {
    sharer.received++;
    log('%s received (%d so far)', signal, sharer.received);
    if (signal === 'SIGQUIT' || (sharer.repeatIsUrgent && sharer.received > 1)) sharer.handlers.urgent(signal);
    else if (sharer.received === 1) sharer.handlers.graceful(signal);
  }
}

/**
 * Makes the caller the one owner of this process's stop signals: the CLI's commands and the supervisor, which
 * decide when the process exits. Importing the library installs nothing. A second owner, or an owner next to
 * components that share the signals, is refused: two handlers each deciding when to exit is how jobs get cut
 * mid-iteration.
 */
export function trapStopSignals(handlers: SignalHandlers, options: TrapOptions = {}): { release(): void } {
  if (owner || sharers.size > 0) throw new SignalsOwnedError();
  const handle = shareStopSignals(handlers, options);
  const exclusive = {
    release() {
      handle.release();
      if (owner === exclusive) owner = undefined;
    },
  };
  owner = exclusive;
  return exclusive;
}

/**
 * Subscribes to this process's stop signals alongside other subscribers: every `IterationWorker` of a process
 * with `handleSignals: true` gets each signal, and the process listeners exist while anyone subscribes
 * (reference-counted). Refused only when an exclusive owner (`trapStopSignals`) holds the signals.
 */
export function shareStopSignals(handlers: SignalHandlers, options: TrapOptions = {}): { release(): void } {
  if (owner) throw new SignalsOwnedError();
  const sharer = { handlers, received: 0, repeatIsUrgent: options.repeatIsUrgent ?? true };
  if (sharers.size === 0) for (const s of SIGNALS) process.on(s, dispatch);
  sharers.add(sharer);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      sharers.delete(sharer);
      if (sharers.size === 0) for (const s of SIGNALS) process.off(s, dispatch);
    },
  };
}
