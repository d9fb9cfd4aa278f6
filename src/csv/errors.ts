import { JobIterationError } from '../errors.js';

/** How a file no longer matches a saved cursor. */
export type FileChange = 'truncated' | 'boundary' | 'header';

/**
 * A CSV file changed under a saved cursor: resuming from its byte offset would skip records or read half of one.
 * Raised before any record is yielded; the job's state is left as it is. Restore the file, or restart the job.
 *
 * - `truncated`: the file is shorter than the offset (truncated, or replaced by a smaller file);
 * - `boundary`: the bytes before the offset no longer end a record (rewritten, or appended to a last line that had
 *   no newline);
 * - `header`: the header row differs from the one the cursor was saved under (`columns: true` or a function).
 */
export class FileChangedError extends JobIterationError {
  readonly path: string;
  readonly change: FileChange;
  /** The saved cursor's byte offset. */
  readonly offset: number;
  /** The file's size now, in bytes. */
  readonly size: number;

  constructor(path: string, change: FileChange, offset: number, size: number) {
    super('ERR_FILE_CHANGED', `${path} changed under the saved cursor: ${describe(change, offset, size)}. Restore the file, or restart the job to read it from the start.`);
    this.path = path;
    this.change = change;
    this.offset = offset;
    this.size = size;
  }
}

function describe(change: FileChange, offset: number, size: number): string {
  switch (change) {
    case 'truncated':
      return `it is ${size} bytes, shorter than the cursor's offset of ${offset} bytes`;
    case 'boundary':
      return `byte ${offset} (of ${size}) no longer starts a record: the bytes before it do not end one`;
    case 'header':
      return 'its header row is not the one the cursor was saved under';
  }
}
