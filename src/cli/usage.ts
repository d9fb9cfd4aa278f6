/** Exit codes of the `job-iteration` command. Documented in docs/cli.md; scripts may rely on them. */
export const ExitCode = {
  /** The job completed (or was already complete); a supervisor stopped cleanly. */
  ok: 0,
  /** The job failed with an error; its state was saved at the last good cursor. */
  failed: 1,
  /** Bad input: unknown flag or command, missing module, no such job, params that are not JSON, Redis unreachable. */
  usage: 2,
  /** The job was interrupted gracefully and its state saved: run the same command again to resume. (EX_TEMPFAIL) */
  interrupted: 75,
  /**
   * `run`: an item awaited a promise that can never settle, so the run could not go on; the state was saved at the
   * last finished item with status `failed`. (EX_SOFTWARE)
   */
  neverSettled: 70,
  /** Stopped at once by a second signal or SIGQUIT; the state holds the last finished item. (128 + SIGINT) */
  urgent: 130,
} as const;

/** The exit codes, as every `--help` ends with them. */
export const EXIT_CODES_HELP = `Exit codes:
  0    done (the job completed, or the command did what it was asked)
  1    the job failed; its state was saved at the last good cursor
  2    bad input: an unknown flag or command, a bad value, a missing module or job, Redis or PostgreSQL
       unreachable or refusing the login, BullMQ's PostgreSQL schema missing (see: job-iteration migrate)
  70   run: an item awaited a promise that can never settle; state saved at the last finished item
  75   interrupted gracefully, state saved: run the same command again to resume
  130  stopped at once (a second Ctrl-C or TERM, or QUIT); the state holds the last finished item`;

/** Bad input. The CLI prints the message on one line, with a pointer to the command's --help, and exits 2. */
export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
