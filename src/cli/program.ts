import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { COMMANDS, type CommandSpec } from './commands.js';
import type { FlagSpec, Parsed } from './flags.js';
import { EXIT_CODES_HELP } from './usage.js';

/** Where the command line's guide is, in the installed package: a path that opens on any machine it runs on. */
export const DOCS_PATH = fileURLToPath(new URL('../../../docs/cli.md', import.meta.url));

const ARGS = new Map(COMMANDS.map((c) => [c.name, c.args]));

function flagsOf(name: string, flag: FlagSpec): string {
  const long = `--${name}${flag.type === 'string' ? ` <${flag.value ?? 'value'}>` : ''}`;
  return flag.short ? `-${flag.short}, ${long}` : long;
}

function describeFlag(flag: FlagSpec): string {
  return flag.default === undefined ? flag.description : `${flag.description} (default: ${flag.default})`;
}

/**
 * The `job-iteration` program: one subcommand per `CommandSpec`, with per-command help built from the specs. A
 * command's outcome is handed to `settle`; commander's own errors and help come out as `CommanderError` throws
 * (`exitOverride`), which `main` turns into exit codes.
 */
export function buildProgram(version: string, settle: (code: Promise<number>) => void): Command {
  const program = new Command('job-iteration')
    .usage('<command> [options]')
    .description('Interruptible, resumable long-running jobs: run one here, or supervise BullMQ workers.')
    .version(version, '-v, --version', 'print the version')
    .helpOption('-h, --help', 'show this help')
    .helpCommand('help [command]', "show a command's help")
    .exitOverride()
    // Errors are printed by `main`, on one line, with a pointer to the command's --help.
    .configureOutput({ outputError: () => {} })
    // The command list shows each command's own arguments, not the catch-all the parser is given.
    .configureHelp({ subcommandTerm: (cmd) => [cmd.name(), ARGS.get(cmd.name())].filter(Boolean).join(' ') })
    .addHelpText('after', `\n${EXIT_CODES_HELP}\nDocs: ${DOCS_PATH}`);
  for (const command of COMMANDS) addCommand(program, command, settle);
  return program;
}

function addCommand(program: Command, command: CommandSpec<any>, settle: (code: Promise<number>) => void): void {
  const sub = program
    .command(command.name)
    .usage(`${command.args ? `${command.args} ` : ''}[options]`)
    .description(command.summary)
    // Arguments are checked by the command itself, which says what it expected in its own words.
    .argument('[args...]')
    .helpOption('-h, --help', 'show this help')
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .addHelpText('after', `\nExamples:\n${command.examples.map((e) => `  ${e}`).join('\n')}\n\n${EXIT_CODES_HELP}\nDocs: ${DOCS_PATH}`);
  const attributes: Array<[string, FlagSpec, Option]> = [];
  for (const [name, flag] of Object.entries(command.flags as Record<string, FlagSpec>)) {
    const option = new Option(flagsOf(name, flag), describeFlag(flag));
    sub.addOption(option);
    attributes.push([name, flag, option]);
  }
  sub.action((positionals: string[], opts: Record<string, unknown>) => {
    const values: Record<string, unknown> = {};
    for (const [name, flag, option] of attributes) {
      const value = opts[option.attributeName()];
      // Commander reads `--no-x` as `x: false`; the command asked for the flag by its own name.
      if (flag.type === 'boolean' && option.negate) values[name] = value === false ? true : undefined;
      else values[name] = value;
    }
    settle(command.load().then((run) => run({ values, positionals } as Parsed)));
  });
}
