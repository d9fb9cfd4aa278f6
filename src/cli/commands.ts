/**
 * Every command of `job-iteration`, as data: its arguments, flags, a summary and examples. The program's help, each
 * command's `--help` and the parsing come from here; the implementations load only when their command runs, so
 * `run` needs neither Redis nor bullmq.
 */
import { controlFlags, dashboardFlags, enqueueFlags, migrateFlags, retryFlags, runFlags, statusFlags, workFlags, type FlagSpecs, type Parsed } from './flags.js';

export interface CommandSpec<F extends FlagSpecs = FlagSpecs> {
  name: string;
  /** The arguments as usage shows them: `<module>`, `<jobId> | --all-failed`. */
  args: string;
  summary: string;
  flags: F;
  examples: readonly string[];
  load(): Promise<(parsed: Parsed<F>) => Promise<number>>;
}

function controlCommand(action: 'cancel' | 'pause' | 'resume', summary: string): CommandSpec<typeof controlFlags> {
  return {
    name: action,
    args: '<jobId>',
    summary,
    flags: controlFlags,
    examples: [`job-iteration ${action} 42 --queue migrations`],
    load: async () => (await import('./queue-commands.js')).controlCommand(action),
  };
}

export const COMMANDS: readonly CommandSpec<any>[] = [
  {
    name: 'run',
    args: '<module>',
    summary:
      'Run one job in this process, saving its state to a file. Ctrl-C stops it after the current item (exit 75) and the ' +
      'same command resumes it; a second Ctrl-C stops it at once (exit 130). No Redis needed.',
    flags: runFlags,
    examples: [
      'job-iteration run examples/backfill.mjs --job backfill',
      `job-iteration run dist/jobs.js --job reindex --params '{"ids":["a","b"]}' --state /var/lib/reindex.json`,
    ],
    load: async () => (await import('./run.js')).runCommand,
  } satisfies CommandSpec<typeof runFlags>,
  {
    name: 'work',
    args: '<module...>',
    summary: "Supervise worker processes that run the modules' jobs from a BullMQ queue, with one log line per job event.",
    flags: workFlags,
    examples: [
      'job-iteration work dist/jobs.js --queue migrations --processes 2 --concurrency 5 --shutdown-timeout 25',
      'job-iteration work dist/jobs.js --log-format json',
    ],
    load: async () => (await import('./work.js')).workCommand,
  } satisfies CommandSpec<typeof workFlags>,
  {
    name: 'enqueue',
    args: '<module>',
    summary: "Add a job to the queue; prints its id. The job class's static jobOptions apply unless a flag says otherwise.",
    flags: enqueueFlags,
    examples: [
      `job-iteration enqueue dist/jobs.js --job backfill --params '{"upTo":1000000}' --queue migrations`,
      'job-iteration enqueue dist/jobs.js --job backfill --attempts 5 --backoff exponential:1000',
      'job-iteration enqueue dist/jobs.js --job backfill --partitions 4',
    ],
    load: async () => (await import('./queue-commands.js')).enqueueCommand,
  } satisfies CommandSpec<typeof enqueueFlags>,
  {
    name: 'status',
    args: '[jobId]',
    summary: 'Workers alive, and every iterable job with its state, progress, cursor, interruptions and problems; with a job id, that job in full.',
    flags: statusFlags,
    examples: ['job-iteration status --queue migrations', 'job-iteration status --watch', 'job-iteration status 42 --json'],
    load: async () => (await import('./queue-commands.js')).statusCommand,
  } satisfies CommandSpec<typeof statusFlags>,
  controlCommand('cancel', 'Cancel a job: it stops at its next checkpoint, onCancel runs, and it fails as cancelled, without retries.'),
  controlCommand('pause', 'Pause a job: it checkpoints and is parked, not picked up, until resume.'),
  controlCommand('resume', 'Resume a paused job.'),
  {
    name: 'retry',
    args: '<jobId> | --all-failed',
    summary: 'Put failed jobs back in the queue; each resumes after its saved cursor, not from zero, with fresh attempts.',
    flags: retryFlags,
    examples: ['job-iteration retry 42 --queue migrations', 'job-iteration retry --all-failed --queue migrations'],
    load: async () => (await import('./queue-commands.js')).retryCommand,
  } satisfies CommandSpec<typeof retryFlags>,
  {
    name: 'dashboard',
    args: '<module...>',
    summary:
      "Serve a web page of the queue's iterable jobs, live, with pause, resume, cancel, retry and a form to run the " +
      "modules' jobs. Binds 127.0.0.1; any other address needs --auth.",
    flags: dashboardFlags,
    examples: [
      'job-iteration dashboard dist/jobs.js --queue migrations',
      "job-iteration dashboard dist/jobs.js --queue migrations --host 0.0.0.0 --port 8080 --auth admin:'s3cret'",
    ],
    load: async () => (await import('./dashboard.js')).dashboardCommand,
  } satisfies CommandSpec<typeof dashboardFlags>,
  {
    name: 'migrate',
    args: '',
    summary:
      "PostgreSQL: create BullMQ's schema, or bring it up to date, with job-iteration's own tables in it (saved states, " +
      'live processes). Safe to run again, and from several processes at once. Other commands never create it.',
    flags: migrateFlags,
    examples: ["job-iteration migrate --connection 'postgres://app@db/app?schema=jobs'"],
    load: async () => (await import('./migrate.js')).migrateCommand,
  } satisfies CommandSpec<typeof migrateFlags>,
];
