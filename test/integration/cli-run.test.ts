import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { exitedWithin, killAll, numbersIn, range, ROOT, runCli, startCli, startCliInPty, startProcess, TEST_TIMEOUT_MS, waitFor } from '../support/process.js';
import { renderScreen } from '../support/screen.js';

const dir = mkdtempSync(join(tmpdir(), 'ji-cli-run-'));
after(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;
function paths() {
  n++;
  return { log: join(dir, `items-${n}.log`), state: join(dir, `state-${n}.json`), hooks: join(dir, `hooks-${n}.log`), pid: join(dir, `pid-${n}`) };
}

const MODULE = 'test/fixtures/cli-jobs.mjs';
const THROTTLED = 'test/fixtures/throttled-job.mjs';

/** `run` of the `numbers` fixture job with these params and state file, plus any extra flags. */
function numbersRun(params: Record<string, unknown>, state: string, ...flags: string[]): string[] {
  return ['run', MODULE, '--job', 'numbers', '--params', JSON.stringify(params), '--state', state, ...flags];
}

/** Each line as written, a redraw of the bar being one too (split where the cursor goes to column 1), without control sequences. */
function renderedLines(output: string): string[] {
  return output
    .split(/[\r\n]|\x1b\[1?G/)
    .map((line) => line.replace(/\x1b(\[[?\d;]*[A-Za-z]|[78])/g, ''))
    .filter(Boolean);
}

/** The line `run` ends with, bar or not: items, percent (when there is room), rate, elapsed time and cursor. */
const FINAL_LINE = (total: number, done = total, cursor = total - 1) =>
  // The percent is the first to make room for the bar on a narrow terminal; items, rate and elapsed time stay.
  new RegExp(`^numbers(:| \\[[\u2588\u2591]+\\]) ${done}/${total} items (\\| \\d+\\.\\d% )?\\| \\d+ items/s \\| \\d+\\.\\d s elapsed \\| cursor ${cursor}$`);

describe('job-iteration run', () => {
  test('SIGINT finishes the current item, saves the cursor and exits 75; the same command resumes to completion, every item exactly once', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { log, state, hooks } = paths();
    const args = numbersRun({ upTo: 300, delayMs: 5, log }, state);
    const first = startCli(args, { HOOK_LOG: hooks });
    await waitFor('40 items done', () => numbersIn(log).length >= 40);
    first.child.kill('SIGINT');
    const exit = await first.exited;
    assert.equal(exit.code, 75, first.stderr());
    const saved = JSON.parse(readFileSync(state, 'utf8'));
    const doneFirst = numbersIn(log);
    assert.equal(saved.state.status, 'interrupted');
    assert.equal(saved.state.cursor, doneFirst.at(-1), 'the saved cursor is the last item finished');
    assert.equal(saved.state.iterations, doneFirst.length);
    assert.equal(saved.state.lastInterruption.adapter, 'worker-stop');
    assert.ok(doneFirst.length < 300);
    assert.match(first.stdout(), /interrupted by worker-stop .* Run the same command to resume/);
    const pid = first.child.pid;
    assert.deepEqual(readFileSync(hooks, 'utf8').trim().split('\n'), [`${pid} workerStart run`, `${pid} workerStop SIGINT`, `${pid} workerExit run`]);

    const second = await runCli(args);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /resuming after cursor \d+/);
    assert.deepEqual(numbersIn(log), range(300), 'every item exactly once, in order');
    const done = JSON.parse(readFileSync(state, 'utf8'));
    assert.equal(done.state.status, 'completed');
    assert.equal(done.state.timesInterrupted, 1);

    const third = await runCli(args);
    assert.equal(third.code, 0);
    assert.match(third.stdout, /numbers already completed at .* \(300 items\); pass --restart/);
    assert.equal(numbersIn(log).length, 300, 'a rerun after completion does nothing');

    const restarted = await runCli(numbersRun({ upTo: 3, delayMs: 1, log }, state, '--restart'));
    assert.equal(restarted.code, 0, restarted.stderr);
    assert.deepEqual(numbersIn(log), [...range(300), 0, 1, 2]);
  });

  test('SIGTERM behaves like SIGINT', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { log, state } = paths();
    const run = startCli(numbersRun({ upTo: 500, delayMs: 5, log }, state));
    await waitFor('10 items done', () => numbersIn(log).length >= 10);
    run.child.kill('SIGTERM');
    assert.equal((await run.exited).code, 75);
    assert.equal(JSON.parse(readFileSync(state, 'utf8')).state.cursor, numbersIn(log).at(-1));
  });

  test('a second signal stops at once (exit 130) without waiting for the slow item in flight, keeping the last finished cursor', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { log, state } = paths();
    const run = startCli(numbersRun({ upTo: 50, delayMs: 2000, log }, state, '--checkpoint-interval', '600000'));
    await waitFor('2 items done', () => numbersIn(log).length >= 2, 20_000);
    run.child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 100));
    const second = performance.now();
    run.child.kill('SIGINT');
    const exit = await run.exited;
    assert.equal(exit.code, 130, run.stderr());
    assert.ok(exit.at - second < 1000, `exited ${Math.round(exit.at - second)} ms after the second signal`);
    const saved = JSON.parse(readFileSync(state, 'utf8'));
    assert.equal(saved.state.cursor, numbersIn(log).at(-1), 'saved even though the checkpoint interval had not elapsed');
    assert.equal(saved.state.status, 'interrupted');
  });

  test('a second signal while onComplete runs lets it finish: the job completes, and onComplete runs once', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { log, state } = paths();
    const args = numbersRun({ upTo: 5, delayMs: 1, log }, state);
    const run = startCli(args, { COMPLETE_MS: '1500' });
    await waitFor('every item done', () => numbersIn(log).length === 5, 20_000);
    await new Promise((r) => setTimeout(r, 200));
    run.child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 100));
    run.child.kill('SIGINT');
    const exit = await run.exited;
    assert.equal(exit.code, 0, run.stderr());
    assert.match(run.stderr(), /onComplete is running; it finishes first \(it runs only once\)/);
    assert.equal(JSON.parse(readFileSync(state, 'utf8')).state.status, 'completed');
    const again = await runCli(args);
    assert.match(again.stdout, /already completed/);
    assert.deepEqual(readFileSync(`${log}.complete`, 'utf8').trim().split('\n'), ['complete']);
  });

  test('after kill -9 the rerun resumes from the last persisted cursor: redone work is bounded by the checkpoint interval', { timeout: TEST_TIMEOUT_MS }, async () => {
    // 5 ms items: a 100 ms interval leaves at most about 20 finished items unsaved, plus the one in flight.
    for (const [interval, bound] of [['0', 1], ['100', 25]] as const) {
      const { log, state } = paths();
      const args = numbersRun({ upTo: 200, delayMs: 5, log }, state, '--checkpoint-interval', interval);
      const first = startCli(args);
      await waitFor('60 items done', () => numbersIn(log).length >= 60);
      first.child.kill('SIGKILL');
      assert.equal((await first.exited).signal, 'SIGKILL');
      const second = await runCli(args);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stderr, /the last run ended without saving an outcome \(killed or crashed; 1 time\(s\) so far\)/);
      assert.equal(JSON.parse(readFileSync(state, 'utf8')).state.timesStalled, 1, 'the kill is counted in the state');
      const items = numbersIn(log);
      assert.deepEqual([...new Set(items)].sort((a, b) => a - b), range(200), 'every item at least once');
      const redone = items.length - 200;
      assert.ok(redone <= bound, `interval ${interval} ms: ${redone} items redone, bound ${bound}`);
    }
  });

  test('TypeScript modules run with the tsx loader, even when they import the package sources rather than dist/', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { state } = paths();
    const args = ['run', 'test/fixtures/jobs.ts', '--params', JSON.stringify({ upTo: 5 }), '--state', state];
    const withLoader = await runCli(args, { NODE_OPTIONS: '--import tsx' });
    assert.equal(withLoader.code, 0, withLoader.stderr);
    assert.match(withLoader.stdout, /^counter completed: 5 items, cursor 4/m);
    const without = await runCli(args, { NODE_OPTIONS: '' });
    assert.equal(without.code, 2);
    assert.match(without.stderr, /^job-iteration: test\/fixtures\/jobs\.ts is TypeScript: run with NODE_OPTIONS="--import tsx"/m);
  });

  test('a failing job exits 1 with its state at the last good cursor, and the rerun retries from there', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { log, state } = paths();
    const args = numbersRun({ upTo: 20, delayMs: 1, log }, state);
    const failed = await runCli(args, { FAIL_AT: '12' });
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /numbers failed: Error: item 12 failed/);
    assert.match(failed.stderr, /state saved at cursor 11/);
    const retried = await runCli(args);
    assert.equal(retried.code, 0, retried.stderr);
    assert.deepEqual(numbersIn(log), range(20));
  });

  test('an item that never settles: exit 70 naming the item, state saved at the last finished item, exit hooks run, and the rerun resumes there', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { log, state, hooks } = paths();
    // A checkpoint interval far longer than the run: the cursor saved can only come from the exit path.
    const args = numbersRun({ upTo: 20, delayMs: 1, log }, state, '--checkpoint-interval', '600000');
    const run = startCli(args, { HOOK_LOG: hooks, NEVER_SETTLES_AT: '7' });
    assert.equal((await run.exited).code, 70, run.stderr());
    assert.match(
      run.stderr(),
      /^numbers: item 8 \(the item after cursor 6\) never settled: it awaits a promise that nothing can settle any more\. State saved at cursor 6 in .*; fix the job and run the same command to retry from there\.$/m,
    );
    assert.deepEqual(numbersIn(log), range(7));
    const saved = JSON.parse(readFileSync(state, 'utf8'));
    assert.equal(saved.state.status, 'failed');
    assert.equal(saved.state.cursor, 6);
    assert.equal(saved.state.iterations, 7);
    assert.match(saved.state.lastError, /^item 8 \(the item after cursor 6\) never settled/);
    const pid = run.child.pid;
    assert.deepEqual(readFileSync(hooks, 'utf8').trim().split('\n'), [`${pid} workerStart run`, `${pid} workerExit never settled`]);

    const rerun = await runCli(args);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stderr, /resuming after cursor 6 \(7 items done/);
    assert.deepEqual(numbersIn(log), range(20), 'every item exactly once');
  });

  test('on an 80-column TTY the live bar fits, with ETA and cursor on every redraw; the final line has items, rate and elapsed time', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { log, state, pid } = paths();
    const run = startCliInPty(numbersRun({ upTo: 99, delayMs: 10, log }, state), { columns: 80, pidFile: pid });
    const exit = await exitedWithin(run, 30_000);
    const output = run.stdout();
    assert.equal(exit.code, 0, output);
    assert.match(output, /\x1b\[/, 'terminal control sequences redraw the bar in place');
    const progress = renderedLines(output).filter((l) => l.includes(' | cursor '));
    for (const line of progress) assert.ok(line.length <= 80, `${line.length} columns: ${line}`);
    const final = progress.pop();
    assert.ok(progress.length >= 3, `redrawn while it ran: ${JSON.stringify(output)}`);
    assert.match(progress[0]!, /^numbers \[[\u2588\u2591]{10,}\] /, 'a bar where there is room');
    // A longer ETA or rate may leave too little room for the bar later on: the bar goes, the rest stays.
    for (const line of progress) assert.match(line, /^numbers(:| \[[\u2588\u2591]{10,}\]) \d+\/99 items \| \d+\.\d% \| ETA \S+ \| \d+ items\/s \| cursor (-|\d+)$/);
    assert.match(final!, FINAL_LINE(99));
    const screen = renderScreen(output, 80);
    assert.equal(screen.wrapped, false, 'nothing reached past the last column');
    assert.deepEqual(screen.lines.filter((l) => l.includes(' | cursor ')), [final], 'one progress line stays on the screen: the final one');
    assert.match(screen.lines.join('\n'), /^numbers completed: 99 items, cursor 98, /m);
    assert.deepEqual(numbersIn(log), range(99));
  });

  test('on a TTY a stop signal prints its message on a line of its own, the bar below it, then the final line', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { log, state, pid } = paths();
    const run = startCliInPty(numbersRun({ upTo: 5000, delayMs: 5, log }, state), { columns: 80, pidFile: pid });
    await waitFor('40 items done', () => numbersIn(log).length >= 40, 20_000);
    // Like Ctrl-C, which reaches the CLI itself, not `script`.
    process.kill(Number(readFileSync(pid, 'utf8')), 'SIGINT');
    const exit = await exitedWithin(run, 20_000);
    const output = run.stdout();
    assert.equal(exit.code, 75, output);
    const done = numbersIn(log);
    assert.ok(done.length < 5000, 'stopped before the end');
    const progress = renderedLines(output).filter((l) => l.includes(' | cursor '));
    assert.ok(progress.length >= 2, output);
    for (const line of progress) {
      assert.ok(line.length <= 80, `${line.length} columns: ${line}`);
      assert.match(line, /ETA .* \| cursor |elapsed \| cursor /);
    }
    // The messages after it are longer than 80 columns: the terminal wraps them, as it would any line.
    const screen = renderScreen(output, 80);
    const message = 'numbers: SIGINT received; stopping after the current item (again to stop now)';
    const at = screen.lines.indexOf(message);
    assert.ok(at >= 0, `the message alone on its line: ${JSON.stringify(screen.lines)}`);
    assert.deepEqual(screen.lines.filter((l) => l.includes(' | cursor ')), [screen.lines[at + 1]], `the bar only below the message: ${JSON.stringify(screen.lines)}`);
    assert.match(screen.lines[at + 1]!, FINAL_LINE(5000, done.length, done.at(-1)!));
    assert.match(screen.lines[at + 2]!, /^numbers interrupted by worker-stop /);
  });

  test('off a TTY it prints periodic progress lines with percent and ETA', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { log, state } = paths();
    const result = await runCli(numbersRun({ upTo: 60, delayMs: 5, log }, state, '--progress-interval', '100'));
    assert.equal(result.code, 0);
    const lines = result.stderr.split('\n').filter((l) => l.startsWith('numbers: '));
    assert.ok(lines.length >= 2, result.stderr);
    assert.match(lines.at(-2)!, /^numbers: \d+\/60 items \| \d+\.\d% \| ETA \S+ \| \d+ items\/s \| cursor (-|\d+)$/);
    assert.match(lines.at(-1)!, /^numbers: 60\/60 items \| 100\.0% \| \d+ items\/s \| \d+\.\d s elapsed \| cursor 59$/);
  });
});

describe('job-iteration run: bad input exits 2 with a one-line error and a pointer to --help', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['unknown flag', ['run', MODULE, '--job', 'numbers', '--bogus'], /^job-iteration: run: unknown option '--bogus'$/m],
    ['missing module', ['run', 'test/fixtures/nope.mjs', '--job', 'numbers'], /^job-iteration: module not found: test\/fixtures\/nope\.mjs \(looked at .*\)$/m],
    ['module without jobs', ['run', 'test/fixtures/no-jobs.mjs'], /^job-iteration: test\/fixtures\/no-jobs\.mjs exports no IterableJob subclass/m],
    ['unknown job', ['run', MODULE, '--job', 'numbrs'], /^job-iteration: unknown job "numbrs" \(known: letters, numbers\)$/m],
    ['ambiguous job', ['run', MODULE], /^job-iteration: --job is required: the module exports 2 jobs \(letters, numbers\)$/m],
    ['params not JSON', ['run', MODULE, '--job', 'numbers', '--params', '{upTo: 3}'], /^job-iteration: --params is not valid JSON .*: \{upTo: 3\}$/m],
    ['params not an object', ['run', MODULE, '--job', 'numbers', '--params', '[1]'], /^job-iteration: --params must be a JSON object; got \[1\]$/m],
    ['unknown command', ['frobnicate'], /^job-iteration: unknown command "frobnicate"$/m],
    ['no module', ['run'], /^job-iteration: run takes one module; got none$/m],
  ];
  for (const [name, args, message] of cases) {
    test(name, { timeout: TEST_TIMEOUT_MS }, async () => {
      const result = await runCli(args);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
      const hint = args[0] === 'run' ? '(see: job-iteration run --help)' : '(see: job-iteration --help)';
      assert.deepEqual(result.stderr.trim().split('\n').slice(-1), [hint], 'one line, then where to look; not the whole usage');
      assert.equal(result.stderr.trim().split('\n').length, 2, result.stderr);
    });
  }

  test('--help of a command shows its usage, every flag with its default, an example, the exit codes and where the docs are; exit 0', { timeout: TEST_TIMEOUT_MS }, async () => {
    for (const args of [['run', '--help'], ['help', 'run'], ['run', '-h']]) {
      const result = await runCli(args);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^Usage: job-iteration run <module> \[options\]$/m);
      for (const flag of ['--job <name>', '--params <json>', '--state <file>', '--restart', '--checkpoint-interval <ms>', '--progress-interval <ms>', '--no-signals']) {
        assert.ok(result.stdout.includes(flag), `${flag} in ${args.join(' ')}`);
      }
      assert.match(result.stdout, /--progress-interval <ms>\s+ms between progress lines .*\(default: 5000\)/s);
      assert.match(result.stdout, /^Examples:\n {2}job-iteration run examples\/backfill\.mjs --job backfill$/m);
      assert.match(result.stdout, /^ {2}75 {3}interrupted gracefully/m);
      const docs = /^Docs: (.+)$/m.exec(result.stdout)?.[1];
      assert.ok(docs && existsSync(docs) && docs.endsWith('docs/cli.md'), `the docs path opens: ${docs}`);
    }
    const top = await runCli(['--help']);
    assert.equal(top.code, 0);
    for (const command of ['run <module>', 'work <module...>', 'enqueue <module>', 'status', 'cancel <jobId>', 'retry <jobId> | --all-failed']) assert.ok(top.stdout.includes(command), command);
    const bare = await runCli([]);
    assert.equal(bare.code, 2, 'no command is bad input');
    assert.match(bare.stdout, /^Usage: job-iteration <command> \[options\]$/m);
    const version = await runCli(['--version']);
    assert.equal(version.code, 0);
    assert.equal(version.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });

  test('a corrupt state file is refused, naming it, and left as it is', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { state } = paths();
    writeFileSync(state, '{"format":"job-iteration/state-file@1", "jobName": "numb');
    const result = await runCli(['run', MODULE, '--job', 'numbers', '--params', '{"upTo":3}', '--state', state]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, new RegExp(`^job-iteration: State file ${state.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not valid JSON; move it aside or pass --restart\.$`, 'm'));
    assert.equal(readFileSync(state, 'utf8'), '{"format":"job-iteration/state-file@1", "jobName": "numb');
  });

  test('params that differ from the saved run are refused rather than mixed', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { log, state } = paths();
    const first = startCli(numbersRun({ upTo: 400, delayMs: 5, log }, state));
    await waitFor('5 items', () => numbersIn(log).length >= 5);
    first.child.kill('SIGINT');
    assert.equal((await first.exited).code, 75);
    const other = await runCli(numbersRun({ upTo: 10, log }, state));
    assert.equal(other.code, 2);
    assert.match(other.stderr, /was saved for params .* pass the same --params to resume, or --restart/);
  });
});

describe('job-iteration run: bad input that says where', () => {
  /** A module file in this suite's folder, for a case that needs a broken one. */
  function moduleFile(name: string, source: string): string {
    const file = join(dir, name);
    writeFileSync(file, source);
    return file;
  }

  async function refused(args: string[], message: RegExp): Promise<void> {
    const result = await runCli(args);
    assert.equal(result.code, 2, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(result.stderr.trim().split('\n').length, 2, `one line and the pointer to --help:\n${result.stderr}`);
  }

  test('a job module with a syntax error names the file and line, also when the error is in a module it imports', { timeout: TEST_TIMEOUT_MS }, async () => {
    const broken = moduleFile('broken.mjs', 'export class Broken {\n  eachIteration( {\n  }\n}\n');
    await refused(['run', broken], new RegExp(`^job-iteration: could not load .*broken\\.mjs: syntax error at ${broken.replace(/[.]/g, '\\.')}:4: Unexpected token`, 'm'));
    const importer = moduleFile('imports-broken.mjs', "import { Broken } from './broken.mjs';\nexport { Broken };\n");
    await refused(['run', importer], new RegExp(`^job-iteration: could not load .*imports-broken\\.mjs: syntax error at ${broken.replace(/[.]/g, '\\.')}:4: `, 'm'));
  });

  test('a job module that throws while it loads names the error and where it was thrown; one that imports a name that is not there says so', { timeout: TEST_TIMEOUT_MS }, async () => {
    const throwing = moduleFile('throwing.mjs', 'export const a = 1;\nconst config = undefined;\nexport const port = config.port;\n');
    await refused(['run', throwing], new RegExp(`^job-iteration: could not load .*throwing\\.mjs: TypeError: Cannot read properties of undefined \\(reading 'port'\\) \\(at ${throwing.replace(/[.]/g, '\\.')}:3:\\d+\\)$`, 'm'));
    // A name its module does not export: a SyntaxError too, but one the message already places.
    const linking = moduleFile('imports-missing.mjs', "import { nope } from './throwing.mjs';\nexport const a = nope;\n");
    await refused(['run', linking], /^job-iteration: could not load .*imports-missing\.mjs: SyntaxError: The requested module '\.\/throwing\.mjs' does not provide an export named 'nope'$/m);
  });

  test('a state file whose folder cannot be made or written is refused before the first item runs', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { log } = paths();
    const notAFolder = moduleFile('plain-file', 'not a folder');
    await refused(numbersRun({ upTo: 5, log }, join(notAFolder, 'state.json')), /^job-iteration: cannot write the state file .*plain-file\/state\.json: ENOTDIR \(.*plain-file is not a folder\)$/m);
    // Node's own recursive mkdir never returns for a folder under /proc: refused too, not a run hung at its first checkpoint.
    await refused(numbersRun({ upTo: 5, log }, '/proc/job-iteration-test/state.json'), /^job-iteration: cannot write the state file \/proc\/job-iteration-test\/state\.json: ENOENT/m);
    assert.equal(existsSync(log), false, 'no item ran');
  });

  test("params the job's validateParams refuses: exit 2 naming the field, nothing run or saved", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { log, state } = paths();
    await refused(numbersRun({ upTo: 'ten', log }, state), /^job-iteration: Params of job "numbers" are refused: upTo must be an integer >= 0; got "ten"$/m);
    await refused(numbersRun({ upTo: 3, log: 7 }, state), /^job-iteration: Params of job "numbers" are refused: log must be a file path; got 7$/m);
    assert.equal(existsSync(log), false, 'no item ran');
    assert.equal(existsSync(state), false, 'no state written');
  });
});

describe('the commands the README shows', () => {
  test('the example job: Ctrl-C half-way exits 75 with the cursor under .job-iteration/, the same command resumes and completes (exit 0), and a rerun says it is done', { timeout: TEST_TIMEOUT_MS }, async () => {
    // The README's command, run from a folder of its own so the state it leaves in .job-iteration/ is this test's.
    const cwd = mkdtempSync(join(dir, 'readme-'));
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const shown = /^npm ci && (node dist\/src\/cli\/main\.js run examples\/backfill\.mjs --job backfill) +# the example job/m.exec(readme)?.[1];
    assert.ok(shown, 'the README still shows this command');
    const args = [join(ROOT, 'dist/src/cli/main.js'), 'run', join(ROOT, 'examples/backfill.mjs'), '--job', 'backfill'];
    const first = startProcess(process.execPath, args, {}, cwd);
    const state = join(cwd, '.job-iteration', 'backfill.json');
    await waitFor('a first checkpoint', () => existsSync(state));
    // A terminal's Ctrl-C goes to the whole process group.
    process.kill(-first.child.pid!, 'SIGINT');
    assert.equal((await exitedWithin(first, 20_000)).code, 75, first.stderr());
    const saved = JSON.parse(readFileSync(state, 'utf8')) as { state: { status: string; iterations: number; cursor: number } };
    assert.equal(saved.state.status, 'interrupted');
    assert.ok(saved.state.iterations > 0 && saved.state.iterations < 2000, `stopped half-way: ${saved.state.iterations}`);
    const second = startProcess(process.execPath, args, {}, cwd);
    assert.equal((await exitedWithin(second, 60_000)).code, 0, second.stderr());
    assert.match(second.stderr(), new RegExp(`resuming after cursor ${saved.state.cursor} \\(${saved.state.iterations} items done`));
    assert.match(second.stdout(), /^backfill completed: 2000 items, cursor 2000, /m);
    const third = startProcess(process.execPath, args, {}, cwd);
    assert.equal((await exitedWithin(third, 20_000)).code, 0, third.stderr());
    assert.match(third.stdout(), /^backfill already completed at .* \(2000 items\); pass --restart to run it again\.$/m);
  });

  test('under npx the exit codes of a command that ends by itself hold (0, 1, 2); a Ctrl-C to the group still saves and exits 75 in the command, but npm reports 130', { timeout: TEST_TIMEOUT_MS }, async () => {
    const npx = (args: string[], env: Record<string, string> = {}) => startProcess('npx', ['--no-install', 'job-iteration', ...args], env);
    const { log, state } = paths();
    const cases: Array<[string[], Record<string, string>, number]> = [
      [numbersRun({ upTo: 5, delayMs: 1, log }, state), {}, 0],
      [numbersRun({ upTo: 5, delayMs: 1, log }, `${state}.failing`), { FAIL_AT: '2' }, 1],
      [['run', MODULE, '--job', 'nope'], {}, 2],
    ];
    for (const [args, env, code] of cases) {
      const started = npx(args, env);
      assert.equal((await exitedWithin(started, 60_000, `npx job-iteration ${args.join(' ')}`)).code, code, started.stderr());
    }
    const { log: slowLog, state: slowState } = paths();
    const slow = npx(numbersRun({ upTo: 100_000, delayMs: 5, log: slowLog }, slowState));
    await waitFor('items under npx', () => numbersIn(slowLog).length >= 5, 30_000);
    process.kill(-slow.child.pid!, 'SIGINT');
    // npm re-raises the signal on itself: it dies by SIGINT, which a shell reports as 130.
    assert.deepEqual((({ code, signal }) => ({ code, signal }))(await exitedWithin(slow, 20_000)), { code: null, signal: 'SIGINT' });
    assert.match(slow.stdout(), /^numbers interrupted by worker-stop .*Run the same command to resume\.$/m, 'the command itself stopped gracefully');
    assert.equal((JSON.parse(readFileSync(slowState, 'utf8')) as { state: { status: string } }).state.status, 'interrupted');
  });
});

describe('job-iteration run with a throttle', () => {
  const throttledRun = (params: Record<string, unknown>, state: string) => ['run', THROTTLED, '--params', JSON.stringify(params), '--state', state, '--progress-interval', '100'];

  test('waits as long as the throttle asks, says why, and goes on in the same process: every item once, exit 0', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { log, state } = paths();
    const started = performance.now();
    const result = await runCli(throttledRun({ upTo: 30, log, throttleAfter: [10, 20] }, state));
    const tookMs = performance.now() - started;
    assert.equal(result.code, 0, result.stderr);
    const waits = [...result.stderr.matchAll(/throttled: throttled by replica-lag \(replica lag after (\d+) items\); going on in 0\.3 s \(cursor (\d+) saved\)/g)];
    assert.deepEqual(waits.map((m) => [m[1], m[2]]), [['10', '9'], ['20', '19']], result.stderr);
    assert.deepEqual(numbersIn(log), range(30), 'every item exactly once, in order');
    assert.ok(tookMs >= 600, `the two waits of 300 ms were waited (${Math.round(tookMs)} ms)`);
    const saved = JSON.parse(readFileSync(state, 'utf8'));
    assert.equal(saved.state.status, 'completed');
    assert.equal(saved.state.timesInterrupted, 2);
    // The enumeration is measured (fromArray), so progress shows a percent without a count().
    assert.match(result.stderr, /^throttled: 30\/30 items \| 100\.0% \| \d+ items\/s \| \d+\.\d s elapsed \| cursor 29$/m);
  });

  test('a stop during the wait ends it at once with exit 75 and the cursor saved; the same command waits out the rest, then goes on', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { log, state } = paths();
    const params = { upTo: 20, log, throttleAfter: [5] };
    const first = startCli(throttledRun(params, state), { BACKOFF_MS: '2500' });
    await waitFor('the throttle', () => /going on in 2\.5 s/.test(first.stderr()));
    first.child.kill('SIGTERM');
    const exit = await first.exited;
    assert.equal(exit.code, 75, first.stderr());
    assert.deepEqual(numbersIn(log), range(5));
    const saved = JSON.parse(readFileSync(state, 'utf8'));
    assert.equal(saved.state.status, 'interrupted');
    assert.equal(saved.state.cursor, 4);
    assert.equal(saved.state.lastInterruption.retryAfterMs, 2500);

    const second = await runCli(throttledRun(params, state));
    assert.equal(second.code, 0, second.stderr);
    const owed = /throttled by replica-lag \(replica lag after 5 items\); going on in (\d+\.\d) s \(cursor 4 saved\)/.exec(second.stderr);
    assert.ok(owed, `the rerun waits out what is left of the throttle: ${second.stderr}`);
    assert.ok(Number(owed[1]) > 0 && Number(owed[1]) <= 2.5);
    assert.deepEqual(numbersIn(log), range(20));
  });

  test('a stop during a wait left over from an earlier process runs nothing and exits 75', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { log, state } = paths();
    const params = { upTo: 20, log, throttleAfter: [3] };
    const first = startCli(throttledRun(params, state), { BACKOFF_MS: '600000' });
    await waitFor('the throttle', () => /going on in 600\.0 s/.test(first.stderr()));
    first.child.kill('SIGTERM');
    assert.equal((await first.exited).code, 75);
    const second = startCli(throttledRun(params, state));
    await waitFor('the left-over wait', () => /going on in 59\d\.\d s/.test(second.stderr()));
    second.child.kill('SIGINT');
    assert.equal((await second.exited).code, 75, second.stderr());
    assert.match(second.stdout(), /throttled stopped while waiting for its throttle; nothing ran/);
    assert.deepEqual(numbersIn(log), range(3));
  });
});
