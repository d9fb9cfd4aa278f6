// An example batch job: "backfill" a derived value over 2,000 records, 2 ms each (about 4 s of work).
// Run it with `node dist/src/cli/main.js run examples/backfill.mjs --job backfill` (`npm run example`); press Ctrl-C half-way, run it again, and it resumes after the last finished record.
import { setTimeout as sleep } from 'node:timers/promises';
import { IterableJob } from 'job-iteration';

const records = Array.from({ length: 2000 }, (_, i) => ({ id: i + 1, email: `user${i + 1}@example.com` }));

export class Backfill extends IterableJob {
  static jobName = 'backfill';

  // Yields [item, cursor] pairs, starting after `cursor` (the id of the last finished record).
  async *buildEnumerator({ upTo = records.length } = {}, { cursor }) {
    for (const record of records) {
      if (record.id > upTo) return;
      if (cursor === undefined || record.id > cursor) yield [record, record.id];
    }
  }

  async eachIteration(record) {
    // Idempotent work: recompute and store the derived value. Here it only takes time.
    await sleep(2);
    record.domain = record.email.split('@')[1];
  }

  count({ upTo = records.length } = {}) {
    return upTo;
  }

  // Params come from a command line or a queue: say which field is wrong before anything runs.
  validateParams({ upTo = records.length, ...rest } = {}) {
    if (!Number.isSafeInteger(upTo) || upTo < 1 || upTo > records.length) return `upTo must be an integer from 1 to ${records.length}; got ${JSON.stringify(upTo)}`;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) return `unknown field ${JSON.stringify(unknown[0])} (known: upTo)`;
    return true;
  }
}
