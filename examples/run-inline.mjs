// Runs the example job in this process with runInline, saving its state to .job-iteration/backfill.json.
// Ctrl-C stops it after the current record; running it again resumes from the saved cursor.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { lifecycle, runInline } from 'job-iteration';
import { Backfill } from './backfill.mjs';

const file = '.job-iteration/backfill.json';
mkdirSync('.job-iteration', { recursive: true });
const state = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
process.once('SIGINT', () => void lifecycle.fire('workerStop', { reason: 'SIGINT' }));
const result = await runInline(Backfill, {}, { state, persist: (s) => writeFileSync(file, JSON.stringify(s)) });
console.log(`${result.status}: ${result.state.iterations} records done, cursor ${result.state.cursor}`);
process.exitCode = result.status === 'completed' ? 0 : 75;
