import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { InvalidStateError, StateNotWritableError } from '../errors.js';
import { FileStateStore } from '../file-store.js';
import { countItems, jobNameOf } from '../iterable-job.js';
import { checkParams } from '../params.js';
import { lifecycle } from '../lifecycle.js';
import { redactUrls } from '../redact.js';
import { runInline } from '../runner.js';
import { RunHandle } from '../run-handle.js';
import { trapStopSignals } from '../signals.js';
import type { JobState } from '../state.js';
import { intFlag, paramsFlag } from './args.js';
import type { Parsed, runFlags } from './flags.js';
import { pickJob } from './pick-job.js';
import { loadJobs } from '../process/load-jobs.js';
import { startProgress } from './progress.js';
import { ExitCode, UsageError } from './usage.js';

/** Where `run` keeps state files unless `--state` says otherwise. */
export const STATE_DIR = '.job-iteration';

/**
 * `job-iteration run <module> --job <name>`: runs one job in this process, checkpointing to a file. This process is
 * its own worker: it fires the worker lifecycle hooks, so the `worker-stop` adapter stops the job on Ctrl-C/TERM.
 */
export async function runCommand({ values, positionals }: Parsed<typeof runFlags>): Promise<number> {
  if (positionals.length !== 1) throw new UsageError(`run takes one module; got ${positionals.length ? positionals.join(' ') : 'none'}`);
  const params = paramsFlag(values.params);
  const checkpointIntervalMs = values['checkpoint-interval'] === undefined ? undefined : intFlag('checkpoint-interval', values['checkpoint-interval'], 1000, 0);
  const progressEveryMs = intFlag('progress-interval', values['progress-interval'], 5000, 50);
  const JobClass = pickJob(await loadJobs(positionals), values.job);
  const jobName = jobNameOf(JobClass);
  // One instance for the params check, count and the run, so what the job opens in its fields is released by the
  // run's onShutdown.
  const job = new JobClass();
  checkParams(job, jobName, params);
  const store = new FileStateStore(values.state ?? join(STATE_DIR, `${jobName.replace(/[^a-z0-9_.-]/gi, '_')}.json`));

  let saved: ReturnType<typeof store.load>;
  try {
    saved = values.restart ? undefined : store.load(jobName);
    await store.checkWritable();
  } catch (error) {
    // A state file that is corrupt, another job's or cannot be written is bad input, like a bad flag: nothing has run.
    if (error instanceof InvalidStateError || error instanceof StateNotWritableError) throw new UsageError(error.message);
    throw error;
  }
  if (saved && !isDeepStrictEqual(saved.params, params)) {
    throw new UsageError(
      `${store.path} was saved for params ${JSON.stringify(saved.params)}, not ${JSON.stringify(params)}; pass the same --params to resume, or --restart`,
    );
  }
  if (saved?.state.status === 'completed') {
    console.log(`${jobName} already completed at ${saved.state.completedAt} (${saved.state.iterations} items); pass --restart to run it again.`);
    return ExitCode.ok;
  }
  if (saved?.state.status === 'running') {
    // Only a run that died without a word (kill -9, power loss, out of memory) leaves `running` behind.
    saved.state.timesStalled = (saved.state.timesStalled ?? 0) + 1;
    console.error(`${jobName}: the last run ended without saving an outcome (killed or crashed; ${saved.state.timesStalled} time(s) so far); items after its last checkpoint run again`);
  }
  if (saved) {
    console.error(`${jobName}: resuming after cursor ${JSON.stringify(saved.state.cursor)} (${saved.state.iterations} items done, interrupted ${saved.state.timesInterrupted} times)`);
  }

  // The run's side for this command: progress reads its live state, and an urgent stop takes from it the state to
  // write on the way out, as the BullMQ worker does.
  let handle = new RunHandle<unknown>();
  const live = (): Readonly<JobState<any>> | undefined => handle.state ?? saved?.state;
  const total = await countItems(job, params);
  // From here on, messages go through progress.log: on a terminal it moves the bar below them instead of drawing
  // over them.
  const progress = startProgress(
    { jobName, total, read: () => ({ iterations: live()?.iterations ?? 0, cursor: live()?.cursor, extent: handle.extent }) },
    process.stderr,
    progressEveryMs,
  );
  // Set by a stop signal: ends a throttle's wait at once, and keeps the run from going on after it.
  let stopRequested = false;
  let wakeFromWait: (() => void) | undefined;

  const signals = values['no-signals']
    ? undefined
    : trapStopSignals({
        graceful(signal) {
          progress.log(`${jobName}: ${signal} received; stopping after the current item (again to stop now)`);
          stopRequested = true;
          wakeFromWait?.();
          void lifecycle.fire('workerStop', { reason: signal });
        },
        urgent(signal) {
          // onComplete runs once per job: cut off now, the rerun would find the enumerator empty and run it again.
          if (handle.phase === 'completing') {
            progress.log(`${jobName}: ${signal} again, but onComplete is running; it finishes first (it runs only once)`);
            return;
          }
          progress.stop();
          // Only a run still in progress is marked interrupted: one whose outcome is decided is written as it is,
          // so a rerun neither repeats onComplete nor counts a stop twice.
          const state = handle.urgentSnapshot('urgent-stop', `${signal}: stopped at once`, saved?.state) ?? live();
          if (state) store.saveSync(jobName, params, state);
          progress.log(`${jobName}: ${signal} again; stopped at once. Saved cursor ${JSON.stringify(state?.cursor)}; run the same command to resume.`);
          process.exit(ExitCode.urgent);
        },
      });

  // Node ends a process whose event loop has emptied, even with the top-level await of this command still pending
  // (exit 13, no message). While the run is in flight that can only mean it awaits a promise nothing can ever
  // settle: the last moment to save the last finished cursor, run the exit hooks and say which item hung.
  let inFlight = true;
  let hung = false;
  const onBeforeExit = () => {
    if (!inFlight) return;
    // An exit hook that never settles either empties the loop again: leave without waiting for it.
    if (hung) process.exit(ExitCode.neverSettled);
    hung = true;
    progress.stop();
    const current = live();
    const item = (current?.iterations ?? 0) + 1;
    const which = current?.cursor === undefined ? 'the first item' : `the item after cursor ${JSON.stringify(current.cursor)}`;
    const message = `item ${item} (${which}) never settled: it awaits a promise that nothing can settle any more`;
    if (current) {
      const state = { ...structuredClone(current), status: 'failed' as const, lastError: message, updatedAt: new Date().toISOString() };
      store.saveSync(jobName, params, state);
    }
    progress.log(
      `${jobName}: ${message}. State saved at cursor ${JSON.stringify(current?.cursor)} in ${store.path}; ` +
        'fix the job and run the same command to retry from there.',
    );
    void lifecycle.fire('workerExit', { reason: 'never settled' }).finally(() => {
      signals?.release();
      process.exit(ExitCode.neverSettled);
    });
  };
  process.on('beforeExit', onBeforeExit);

  await lifecycle.fire('workerStart', { reason: 'run' });
  try {
    // A throttle asked the job to wait: this process is its own worker, so it waits here and goes on, as a queue
    // would hand the job back delayed. The state is saved meanwhile, so a stop during the wait loses nothing. A wait
    // a previous process was stopped in is waited out first.
    const waitFor = async (waitMs: number, last: { adapter: string; reason: string }, cursor: unknown) => {
      progress.log(`${jobName}: throttled by ${last.adapter} (${last.reason}); going on in ${(waitMs / 1000).toFixed(1)} s (cursor ${JSON.stringify(cursor)} saved)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        wakeFromWait = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wakeFromWait = undefined;
    };
    const owed = saved?.state.status === 'interrupted' ? saved.state.lastInterruption : undefined;
    const owedMs = owed?.retryAfterMs === undefined ? 0 : Date.parse(owed.at) + owed.retryAfterMs - Date.now();
    if (owed && owedMs > 0) await waitFor(owedMs, owed, saved?.state.cursor);
    if (stopRequested) {
      progress.stop();
      console.log(`${jobName} stopped while waiting for its throttle; nothing ran. Run the same command to resume.`);
      return ExitCode.interrupted;
    }
    let result = await runInline(JobClass, params, { job, state: saved?.state, checkpointIntervalMs, handle, persist: (state) => store.save(jobName, params, state) });
    while (result.status === 'interrupted' && result.interruption?.retryAfterMs !== undefined && !stopRequested) {
      await waitFor(result.interruption.retryAfterMs, result.interruption, result.state.cursor);
      if (stopRequested) break;
      handle = new RunHandle<unknown>();
      result = await runInline(JobClass, params, { job, state: result.state, checkpointIntervalMs, handle, persist: (state) => store.save(jobName, params, state) });
    }
    progress.stop();
    const { state } = result;
    if (result.status === 'completed') {
      console.log(`${jobName} completed: ${state.iterations} items, cursor ${JSON.stringify(state.cursor)}, ${(state.totalTimeMs / 1000).toFixed(1)} s in ${state.timesInterrupted + 1} run(s)`);
      return ExitCode.ok;
    }
    console.log(
      `${jobName} interrupted by ${result.interruption!.adapter} (${result.interruption!.reason}) after ${state.iterations} items; ` +
        `cursor ${JSON.stringify(state.cursor)} saved to ${store.path}. Run the same command to resume.`,
    );
    return ExitCode.interrupted;
  } catch (error) {
    progress.stop();
    const state = (error as { state?: JobState }).state;
    progress.log(`${jobName} failed: ${redactUrls((error as Error).stack ?? String(error))}`);
    if (state) progress.log(`${jobName}: state saved at cursor ${JSON.stringify(state.cursor)} in ${store.path}; run the same command to retry from there.`);
    return ExitCode.failed;
  } finally {
    inFlight = false;
    process.off('beforeExit', onBeforeExit);
    await lifecycle.fire('workerExit', { reason: 'run' });
    signals?.release();
  }
}
