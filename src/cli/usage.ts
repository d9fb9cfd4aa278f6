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

export const USAGE = `Usage: job-iteration <command> [options]

Commands:
  run <module> [--job <name>] [--params <json>] [--state <file>] [--restart]
        Run one job in this process, saving its state to a file; Ctrl-C stops after the current item,
        and running the same command again resumes. No Redis needed.
  work <module...> [--queue <name>] [--processes <n>] [--concurrency <n>] [--shutdown-timeout <s>] [--redis <url>]
       [--log-format text|json] [--quiet]
        Supervise worker processes that run the module's jobs from a BullMQ queue; one log line per job event.
  enqueue <module> [--job <name>] [--params <json>] [--attempts <n>] [--backoff <ms|exponential:ms>] [--delay <ms>]
        Add a job to the queue (the job class's static jobOptions apply unless a flag says otherwise).
  status [--queue <name>] [--redis <url>]
        Workers alive, iterable jobs with their cursor, progress and interruptions.
  cancel|pause|resume <jobId> [--queue <name>] [--redis <url>]
        Control one job from any machine.
  retry <jobId> | --all-failed [--queue <name>] [--redis <url>]
        Put failed jobs back in the queue; each resumes after its saved cursor, not from zero.

Common options:
  --queue <name>     queue name (default: default)
  --redis <url>      Redis URL (default: REDIS_URL or redis://127.0.0.1:6379)
  -h, --help         show this help
  -v, --version      print the version

Exit codes: 0 done, 1 job failed, 2 bad input, 70 an item never settled (run: state saved at the last finished
item), 75 interrupted (run again to resume), 130 stopped at once.
Docs: docs/cli.md`;

/** Bad input. The CLI prints the message on one line, then the usage, and exits 2. */
export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
