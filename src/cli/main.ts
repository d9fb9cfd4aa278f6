#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { InvalidParamsError, JobIterationError } from '../errors.js';
import {
  InvalidConnectionUrlError,
  InvalidRedisUrlError,
  JobModuleError,
  PostgresAuthError,
  PostgresUnreachableError,
  RedisAuthError,
  RedisUnreachableError,
  SchemaNotMigratedError,
} from '../process/errors.js';
import { redactUrls } from '../redact.js';
import { CommanderError } from 'commander';
import { COMMANDS } from './commands.js';
import { buildProgram } from './program.js';
import { ExitCode, UsageError } from './usage.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const COMMAND_NAMES = new Set(COMMANDS.map((c) => c.name));

export async function main(argv: string[]): Promise<number> {
  let outcome: Promise<number> | undefined;
  const program = buildProgram(version(), (code) => (outcome = code));
  if (argv.length === 0) {
    // No command: the help, and the exit code of bad input, as a script calling it without one deserves.
    process.stdout.write(program.helpInformation());
    return ExitCode.usage;
  }
  const command = COMMAND_NAMES.has(argv[0]!) ? argv[0] : undefined;
  const hint = `(see: job-iteration ${command ? `${command} ` : ''}--help)`;
  try {
    await program.parseAsync(argv, { from: 'user' });
    return outcome ? await outcome : ExitCode.ok;
  } catch (thrown) {
    if (thrown instanceof CommanderError) {
      // Help and version were printed as asked.
      if (thrown.exitCode === 0) return ExitCode.ok;
      const message = thrown.code === 'commander.unknownCommand' ? `unknown command "${argv[0]}"` : thrown.message.replace(/^error: /, '');
      console.error(`job-iteration: ${command ? `${command}: ` : ''}${message}\n${hint}`);
      return ExitCode.usage;
    }
    const error = asUsageError(thrown);
    if (error instanceof UsageError || error instanceof JobIterationError) {
      console.error(`job-iteration: ${redactUrls(error.message)}`);
      if (error instanceof UsageError) console.error(hint);
      // Bad credentials, or a database without BullMQ's schema, are bad input too, though the command's help would not
      // help with them: the message says what would.
      const refused = error instanceof RedisAuthError || error instanceof PostgresAuthError || error instanceof SchemaNotMigratedError;
      return error instanceof UsageError || refused ? ExitCode.usage : ExitCode.failed;
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
  const input =
    error instanceof InvalidRedisUrlError ||
    error instanceof InvalidConnectionUrlError ||
    error instanceof RedisUnreachableError ||
    error instanceof PostgresUnreachableError ||
    error instanceof JobModuleError ||
    error instanceof InvalidParamsError;
  return input ? new UsageError(error.message) : error;
}

// Exit as soon as the command is done, in the same tick: a signal arriving while the process would otherwise wind
// down (its handlers already released) must not turn a clean exit into a death by SIGTERM.
process.exit(await main(process.argv.slice(2)));
