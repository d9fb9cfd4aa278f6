import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { InvalidStateError, StateNotWritableError } from './errors.js';
import { parseState, type JobState } from './state.js';

const FORMAT = 'job-iteration/state-file@1';

/** What a state file holds: the job's state and the params it was started with. */
export interface StateFile<Cursor = unknown> {
  format: typeof FORMAT;
  jobName: string;
  params: unknown;
  state: JobState<Cursor>;
}

/**
 * Keeps one job's state in a JSON file. Writes go to a temporary file that is renamed over the old one, so a crash
 * mid-write leaves the previous checkpoint intact rather than half a file.
 */
export class FileStateStore<Cursor = unknown> {
  constructor(readonly path: string) {}

  /**
   * Makes the file's folder and writes a scratch file beside where the state will go, so that a folder that cannot
   * be written fails before the first item runs rather than at the first checkpoint, with that item's work lost.
   * Throws `ERR_STATE_NOT_WRITABLE` naming the file and why.
   */
  async checkWritable(): Promise<void> {
    const dir = dirname(this.path);
    const tmp = this.#tmpPath();
    try {
      await makeDirectory(dir);
      await writeFile(tmp, '');
      await unlink(tmp);
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      throw new StateNotWritableError(this.path, `cannot write the state file ${this.path}: ${code ? `${code} (${message.replace(/^[A-Z]+: /, '')})` : message}`, { cause: error });
    }
  }

  /** The saved file, or `undefined` when there is none yet. Throws `ERR_INVALID_STATE` on a corrupt or foreign file. */
  load(jobName: string): StateFile<Cursor> | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      const { code } = error as NodeJS.ErrnoException;
      // No file, or a path through something that is not a folder (which `checkWritable` reports): nothing saved.
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw new InvalidStateError(`State file ${this.path} cannot be read: ${(error as Error).message}`, { cause: error });
    }
    let parsed: Partial<StateFile>;
    try {
      parsed = JSON.parse(text) as Partial<StateFile>;
    } catch (cause) {
      throw new InvalidStateError(`State file ${this.path} is not valid JSON; move it aside or pass --restart.`, { cause });
    }
    if (parsed.format !== FORMAT) throw new InvalidStateError(`State file ${this.path} is not a job-iteration state file (format ${String(parsed.format)}).`);
    if (parsed.jobName !== jobName) {
      throw new InvalidStateError(`State file ${this.path} belongs to job "${String(parsed.jobName)}", not "${jobName}"; use another --state file.`);
    }
    return { format: FORMAT, jobName, params: parsed.params, state: parseState<Cursor>(parsed.state, jobName) };
  }

  async save(jobName: string, params: unknown, state: JobState<Cursor>): Promise<void> {
    const text = this.#serialize(jobName, params, state);
    await makeDirectory(dirname(this.path));
    const tmp = this.#tmpPath();
    await writeFile(tmp, text);
    await rename(tmp, this.path);
  }

  /** For exit paths where the event loop will not run again (an urgent stop). */
  saveSync(jobName: string, params: unknown, state: JobState<Cursor>): void {
    const text = this.#serialize(jobName, params, state);
    if (!existsSync(dirname(this.path))) mkdirSync(dirname(this.path), { recursive: true });
    const tmp = this.#tmpPath();
    writeFileSync(tmp, text);
    renameSync(tmp, this.path);
  }

  #writes = 0;

  /** A fresh temporary name per write: an urgent synchronous save may overlap an asynchronous one in flight. */
  #tmpPath(): string {
    return `${this.path}.${process.pid}.${++this.#writes}.tmp`;
  }

  #serialize(jobName: string, params: unknown, state: JobState<Cursor>): string {
    const file: StateFile<Cursor> = { format: FORMAT, jobName, params, state };
    return `${JSON.stringify(file, null, 2)}\n`;
  }
}

/**
 * `mkdir -p`, one level at a time. Node 20's own `{ recursive: true }` never returns for a path under a folder that
 * refuses new entries with ENOENT (anything under /proc), which would hang a run at its first checkpoint.
 */
async function makeDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === 'EEXIST') {
      if ((await stat(dir)).isDirectory()) return;
      throw Object.assign(new Error(`${dir} is not a folder`), { code: 'ENOTDIR' });
    }
    if (code !== 'ENOENT' || dirname(dir) === dir) throw error;
    await makeDirectory(dirname(dir));
    await mkdir(dir);
  }
}
