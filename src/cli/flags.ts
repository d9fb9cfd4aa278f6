/**
 * The flags of every command, as data: each one's value, default and description. Help, parsing and the
 * implementations' types all come from here.
 */
export interface FlagSpec {
  type: 'string' | 'boolean';
  /** The value's placeholder in help: `--queue <name>`. */
  value?: string;
  short?: string;
  description: string;
  /** The default as help shows it; the implementation applies it. */
  default?: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** What a command receives: its positional arguments and its flags by long name. */
export interface Parsed<F extends FlagSpecs = FlagSpecs> {
  values: { [K in keyof F]?: F[K]['type'] extends 'boolean' ? boolean : string };
  positionals: string[];
}


const connectionFlags = {
  connection: {
    type: 'string',
    value: 'url',
    description: "where the queue lives: redis://, rediss://, postgres:// or postgresql:// (?schema=<name> for BullMQ's PostgreSQL schema, default bullmq)",
    default: 'REDIS_URL, else redis://127.0.0.1:6379',
  },
  redis: { type: 'string', value: 'url', description: 'the same as --connection, under its older name' },
} as const satisfies FlagSpecs;

const queueFlags = {
  queue: { type: 'string', value: 'name', description: 'BullMQ queue', default: 'default' },
  ...connectionFlags,
} as const satisfies FlagSpecs;

const jobFlags = {
  job: { type: 'string', value: 'name', description: 'the job to use, by job name; may be left out when the module exports one job' },
  params: { type: 'string', value: 'json', description: "the job's params, a JSON object", default: '{}' },
} as const satisfies FlagSpecs;

export const runFlags = {
  ...jobFlags,
  state: { type: 'string', value: 'file', description: 'where the state is saved', default: '.job-iteration/<job name>.json' },
  restart: { type: 'boolean', description: 'ignore a saved state and start over' },
  'checkpoint-interval': { type: 'string', value: 'ms', description: 'ms between state writes (0: every item)', default: "the class's, else 1000" },
  'progress-interval': { type: 'string', value: 'ms', description: 'ms between progress lines when stderr is not a terminal', default: '5000' },
  'no-signals': { type: 'boolean', description: 'do not trap SIGINT/SIGTERM (the embedding process owns them)' },
} as const satisfies FlagSpecs;

export const workFlags = {
  ...queueFlags,
  processes: { type: 'string', value: 'n', description: 'worker processes to fork and keep alive', default: '1' },
  concurrency: { type: 'string', value: 'n', description: 'jobs each worker process runs at once', default: '1' },
  'shutdown-timeout': { type: 'string', value: 'seconds', description: 'time workers get after TERM before they are killed', default: '25' },
  'lock-duration': { type: 'string', value: 'ms', description: "BullMQ's job lock", default: '30000' },
  'stalled-interval': { type: 'string', value: 'ms', description: "BullMQ's stalled-job check", default: '30000' },
  'checkpoint-interval': { type: 'string', value: 'ms', description: 'ms between state writes while a job runs (0: every item)', default: '1000' },
  'heartbeat-interval': { type: 'string', value: 'ms', description: 'ms between heartbeats (Redis keys, or rows in PostgreSQL)', default: '5000' },
  migrate: { type: 'boolean', description: "PostgreSQL: create or update BullMQ's schema and job-iteration's tables before starting (as migrate does)" },
  'log-format': { type: 'string', value: 'text|json', description: 'log lines as readable text or as JSON lines', default: 'text' },
  quiet: { type: 'boolean', short: 'q', description: 'no log lines on stderr (DEBUG=job-iteration:* still shows them)' },
} as const satisfies FlagSpecs;

export const enqueueFlags = {
  ...jobFlags,
  ...queueFlags,
  delay: { type: 'string', value: 'ms', description: 'wait this long before the job can start', default: '0' },
  attempts: { type: 'string', value: 'n', description: 'runs the job may have in all; a retry resumes after the saved cursor', default: "the class's, else 1" },
  backoff: { type: 'string', value: 'ms|fixed:ms|exponential:ms', description: 'wait before a retry' },
  partitions: { type: 'string', value: 'k', description: "split the job into k partitions that run side by side, by the class's static partition()" },
} as const satisfies FlagSpecs;

export const statusFlags = {
  ...queueFlags,
  json: { type: 'boolean', description: 'print JSON instead of a table' },
  limit: { type: 'string', value: 'n', description: 'jobs to list at most', default: '50' },
  watch: { type: 'boolean', short: 'w', description: 'show it again every second until Ctrl-C' },
} as const satisfies FlagSpecs;

export const controlFlags = queueFlags;

export const retryFlags = {
  ...queueFlags,
  'all-failed': { type: 'boolean', description: 'retry every failed job of the queue' },
} as const satisfies FlagSpecs;

export const migrateFlags = connectionFlags;

export const dashboardFlags = {
  ...queueFlags,
  port: { type: 'string', value: 'n', description: 'port to listen on (0: any free port)', default: '3000' },
  host: { type: 'string', value: 'address', description: 'address to bind; anything but loopback needs --auth', default: '127.0.0.1' },
  auth: { type: 'string', value: 'user:password', description: 'require HTTP Basic credentials', default: 'JOB_ITERATION_DASHBOARD_AUTH, else none' },
} as const satisfies FlagSpecs;
