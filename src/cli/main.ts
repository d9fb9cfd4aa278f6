#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { JobIterationError } from '../errors.js';
import { InvalidRedisUrlError, JobModuleError, RedisAuthError, RedisUnreachableError } from '../process/errors.js';
import { redactUrls } from '../redact.js';
import { runCommand } from './run.js';
import { ExitCode, USAGE, UsageError } from './usage.js';

type Command = (argv: string[]) => Promise<number>;

// Commands that need bullmq load it lazily, so `run` works without Redis or bullmq installed.
const commands: Record<string, () => Promise<Command>> = {
  run: async () => runCommand,
  work: async () => (await import('./work.js')).workCommand,
  enqueue: async () => (await import('./queue-commands.js')).enqueueCommand,
  status: async () => (await import('./queue-commands.js')).statusCommand,
  cancel: async () => (await import('./queue-commands.js')).controlCommand('cancel'),
  pause: async () => (await import('./queue-commands.js')).controlCommand('pause'),
  resume: async () => (await import('./queue-commands.js')).controlCommand('resume'),
  retry: async () => (await import('./queue-commands.js')).retryCommand,
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    console.log(USAGE);
    return name === undefined ? ExitCode.usage : ExitCode.ok;
  }
  if (name === '-v' || name === '--version') {
    console.log(version());
    return ExitCode.ok;
  }
  try {
    const load = commands[name];
    if (!load) throw new UsageError(`unknown command "${name}"`);
    if (rest.includes('-h') || rest.includes('--help')) {
      console.log(USAGE);
      return ExitCode.ok;
    }
    return await (await load())(rest);
  } catch (thrown) {
    const error = asUsageError(thrown);
    if (error instanceof UsageError || error instanceof JobIterationError) {
      console.error(`job-iteration: ${redactUrls(error.message)}`);
      if (error instanceof UsageError) console.error(`\n${USAGE}`);
      // Bad credentials are bad input too, though the usage text would not help with them.
      return error instanceof UsageError || error instanceof RedisAuthError ? ExitCode.usage : ExitCode.failed;
    }
    // What Node would print for an uncaught error, and its exit code, but with no password of any URL it quotes.
    console.error(redactUrls(inspect(error)));
    return ExitCode.failed;
  }
}

/**
 * The process layer names what went wrong before a job ran (a bad URL, Redis away, a module that does not load);
 * on a command line each of those is bad input, told with the usage text and exit 2.
 */
function asUsageError(error: unknown): unknown {
  const input = error instanceof InvalidRedisUrlError || error instanceof RedisUnreachableError || error instanceof JobModuleError;
  return input ? new UsageError(error.message) : error;
}

// Exit as soon as the command is done, in the same tick: a signal arriving while the process would otherwise wind
// down (its handlers already released) must not turn a clean exit into a death by SIGTERM.
process.exit(await main(process.argv.slice(2)));
