import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream';
import { Parser, type InfoRecord } from 'csv-parse';
import { InvalidOptionError } from '../errors.js';
import { hashHeader, type CsvCursor } from './cursor.js';
import { FileChangedError } from './errors.js';
import type { CsvPlan } from './options.js';
import { locateResume } from './resume.js';

/** A parsed record with csv-parse's byte and record counts at its end. */
type Parsed = [record: unknown, bytes: number, records: number];
/** What csv-parse pushes for a record with `info: true`, which is on only for `on_record`. */
type WithInfo = { record: unknown; info: InfoRecord & { bytes: number; records: number } };

/**
 * Tags each record with the parser's counts as it is pushed, when they are those of the record's end: the counts
 * csv-parse's `info: true` snapshots, without copying its whole info object for every record (that copy halves the
 * parser's throughput).
 */
class CountingParser extends Parser {
  override push(chunk: unknown): boolean {
    return chunk === null ? super.push(null) : super.push([chunk, this.info.bytes, this.info.records] satisfies Parsed);
  }

  // A parse error handed to the stream's callback destroys it, and the records parsed before the error but not yet
  // read would be lost with it: the run would save a cursor far before the bad record, or none. The error travels
  // behind those records instead, as the last thing the stream gives.
  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    super._transform(chunk, encoding, (error?: Error | null) => this.#settle(error, callback));
  }

  override _flush(callback: (error?: Error | null) => void): void {
    super._flush((error?: Error | null) => this.#settle(error, callback));
  }

  #settle(error: Error | null | undefined, callback: (error?: Error | null) => void): void {
    if (error) {
      super.push(new ParseFailure(error));
      super.push(null);
    }
    callback();
  }
}

/** A parse error, queued behind the records parsed before it. */
class ParseFailure {
  constructor(readonly error: Error) {}
}

/**
 * Reads the records of `plan.path` after `plan.cursor`, each with the cursor that marks it done. A resumed read
 * seeks to the cursor's offset instead of reading what comes before, after parsing the file's head once more (see
 * `CsvHead`). `onSize` receives the file's size before the first record.
 */
export async function* readCsv(plan: CsvPlan, onSize: (size: number) => void): AsyncGenerator<[unknown, CsvCursor], void, undefined> {
  const { path, cursor } = plan;
  const stats = await stat(path);
  // A pipe or a device has no offsets to seek to, and a directory's read error would not name it.
  if (!stats.isFile()) throw new InvalidOptionError('path', path, 'a regular file (one that can be read from a byte offset)');
  const { size } = stats;
  onSize(size);
  let head: Buffer | undefined;
  let base = 0;
  if (cursor !== undefined) {
    if (size < cursor.offset) throw new FileChangedError(path, 'truncated', cursor.offset, size);
    if (cursor.offset === size || cursor.record >= plan.to) return;
    const located = await locateResume(plan, cursor, size);
    head = located.bytes;
    base = cursor.record - located.records;
  }
  const start = cursor?.offset ?? 0;
  const headLength = head?.length ?? 0;

  let replaying = false;
  const { onRecord, onSkip } = plan;
  const parser = new CountingParser({
    ...plan.parse,
    // on_record is applied here, with csv-parse's context for it: only then is the snapshot worth its cost.
    info: onRecord !== undefined,
    // Records the head skips for errors were reported by the run that read them first.
    on_skip: onSkip && ((error, raw) => void (replaying || onSkip(error, raw))),
  });
  const file = createReadStream(path, { start, highWaterMark: plan.highWaterMark });
  if (head !== undefined) {
    replaying = true;
    parser.write(head);
    replaying = false;
  }
  // Errors of either stream reach the loop below through the parser, which the pipeline destroys with them.
  pipeline(file, parser, () => {});

  let header = cursor?.header;
  try {
    for await (const chunk of parser as AsyncIterable<Parsed | ParseFailure>) {
      if (chunk instanceof ParseFailure) throw chunk.error;
      const [parsed, bytes, records] = chunk;
      if (bytes <= headLength) continue;
      const number = base + records;
      if (number > plan.to) return;
      const offset = start + bytes - headLength;
      if (plan.withHeader) header ??= hashHeader(parser.options.columns);
      if (number >= plan.from) {
        let item = parsed;
        if (onRecord !== undefined) {
          const { record, info } = parsed as WithInfo;
          // The context counts from the start of the file, as on a run that never stopped.
          info.bytes = offset;
          info.records = number;
          item = onRecord(record, info);
        }
        if (item !== undefined && item !== null) yield [item, header === undefined ? { offset, record: number } : { offset, record: number, header }];
      }
      if (number === plan.to) return;
    }
  } finally {
    parser.destroy();
    file.destroy();
    // An early stop returns only once the file descriptor is closed, so a job that stops leaks none. Waiting for
    // `close` alone: an error now would hide the one that ended the loop.
    if (!file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
  }
}
