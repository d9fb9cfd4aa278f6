import { open, type FileHandle } from 'node:fs/promises';
import type { InfoCallback, Options } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { hashHeader, type CsvCursor } from './cursor.js';
import { FileChangedError } from './errors.js';
import type { CsvPlan } from './options.js';

/**
 * The start of the file a resumed parse is primed with: its bytes up to the end of the first record (the header row
 * and the first record after it, with a header). Parsing them first gives csv-parse what it learns from the top of a
 * file and would otherwise learn from whatever record follows the offset: the column names, the field count every
 * record must match, the record delimiter it discovers, the BOM and the encoding the BOM announces.
 */
export interface CsvHead {
  readonly bytes: Buffer;
  /** csv-parse's record count once the head is parsed. */
  readonly records: number;
}

/**
 * Checks that `cursor` still fits the file, before anything is yielded, and returns the head to prime the parse
 * with. Throws `FileChangedError` when the header changed, when the offset falls inside the head, or when the bytes
 * before the offset no longer end a record.
 */
export async function locateResume(plan: CsvPlan, cursor: CsvCursor, size: number): Promise<CsvHead> {
  const file = await open(plan.path, 'r');
  try {
    const head = await readHead(file, plan, size);
    // The header first: a changed header usually moves every offset too, and the header is the better diagnosis.
    if (head !== undefined && plan.withHeader && hashHeader(head.columns) !== cursor.header) {
      throw new FileChangedError(plan.path, 'header', cursor.offset, size);
    }
    if (head === undefined || head.bytes.length > cursor.offset || !(await endsRecord(file, plan, head.bytes, cursor.offset, size))) {
      throw new FileChangedError(plan.path, 'boundary', cursor.offset, size);
    }
    return { bytes: head.bytes, records: head.records };
  } finally {
    await file.close();
  }
}

type FirstRecord = { info: InfoCallback };

/**
 * Parses the top of the file up to its first record, reading more while that record may be cut short: it is
 * complete once csv-parse ends it before the end of what was read (or at the end of the file).
 */
async function readHead(file: FileHandle, plan: CsvPlan, size: number): Promise<(CsvHead & { columns: unknown }) | undefined> {
  const options = { ...plan.parse, info: true, to: 1 } as Options;
  for (let length = Math.min(plan.highWaterMark, size); ; length = Math.min(length * 4, size)) {
    const { bytesRead, buffer } = await file.read(Buffer.alloc(length), 0, length, 0);
    const bytes = buffer.subarray(0, bytesRead);
    const whole = bytesRead < length || bytesRead >= size;
    let first: FirstRecord | undefined;
    try {
      first = (parseSync(bytes, options) as unknown as FirstRecord[])[0];
    } catch (error) {
      // A record cut short by the end of the buffer can look malformed; only the whole file is a real error.
      if (whole) throw error;
    }
    if (first !== undefined && (whole || first.info.bytes < bytesRead)) {
      return { bytes: bytes.subarray(0, first.info.bytes), records: first.info.records, columns: first.info.columns };
    }
    if (whole) return undefined;
  }
}

const LF = 0x0a;
const CR = 0x0d;
const UTF16LE_BOM = Buffer.from([0xff, 0xfe]);

/**
 * Whether the bytes before `offset` end a record: a record delimiter, or the end of the file for a last record with
 * no newline. A file rewritten under the cursor usually puts the offset in the middle of a record, where resuming
 * would read half a record as a whole one.
 */
async function endsRecord(file: FileHandle, plan: CsvPlan, head: Buffer, offset: number, size: number): Promise<boolean> {
  if (offset === size) return true;
  const delimiters = plan.recordDelimiters;
  // Given delimiters are bytes in the declared encoding; a UTF-16 BOM switches csv-parse to another, so no check.
  if (delimiters.length > 0 && head.subarray(0, 2).equals(UTF16LE_BOM) && plan.parse.bom === true) return true;
  const longest = Math.max(2, ...delimiters.map((delimiter) => delimiter.length));
  const length = Math.min(longest, offset);
  const { bytesRead, buffer } = await file.read(Buffer.alloc(length), 0, length, offset - length);
  const before = buffer.subarray(0, bytesRead);
  if (delimiters.length > 0) return delimiters.some((delimiter) => before.subarray(-delimiter.length).equals(delimiter));
  // Discovered delimiters are `\n`, `\r\n` or `\r`: one byte in UTF-8 and single-byte encodings, a byte and a zero in UTF-16LE.
  const last = before.at(-1);
  if (last === LF || last === CR) return true;
  return last === 0 && (before.at(-2) === LF || before.at(-2) === CR);
}
