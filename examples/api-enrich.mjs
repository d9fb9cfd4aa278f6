// An example of slow per-row work: enrich 1,000 customer records with a call to an outside API that takes 20 ms.
// One call at a time that is 20 s; with `static concurrency = 16`, 16 calls are in flight and it takes about 1.3 s.
//
//   node dist/src/cli/main.js run examples/api-enrich.mjs --job api-enrich --params '{"out":"enriched.jsonl"}'
//
// Press Ctrl-C half-way: the calls in flight finish, the cursor is saved, and the same command goes on from there
// without repeating a call.
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { IterableJob, fromArray } from 'job-iteration';

const customers = Array.from({ length: 1000 }, (_, i) => ({ id: i + 1, domain: `company-${(i % 250) + 1}.example` }));

/** Stands in for an HTTP call (fetch with the run's signal): 20 ms of latency, then an answer. */
async function lookUpCompany(domain, signal) {
  await sleep(20, undefined, { signal });
  return { domain, employees: (domain.length * 37) % 500, industry: domain.endsWith('0.example') ? 'retail' : 'software' };
}

export class ApiEnrich extends IterableJob {
  static jobName = 'api-enrich';
  // Up to 16 eachIteration calls in flight. The saved cursor only moves over rows whose call has finished, so a
  // crash repeats at most the calls that were in flight and a graceful stop repeats none.
  static concurrency = 16;

  inFlight = 0;
  maxInFlight = 0;

  buildEnumerator(_params, { cursor }) {
    // fromArray's cursor is the index of the last finished row; it also reports progress (a percent, an ETA).
    return fromArray(customers, { cursor });
  }

  async eachIteration(customer, { out }, { signal }) {
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      const company = await lookUpCompany(customer.domain, signal);
      await appendFile(out, `${JSON.stringify({ id: customer.id, ...company })}\n`);
    } finally {
      this.inFlight--;
    }
  }

  // The output is appended to, so rows a crash made run twice appear twice: keep the last line of each id.
  async onComplete({ out }) {
    const lines = (await readFile(out, 'utf8')).split('\n').filter(Boolean);
    const rows = new Map(lines.map((line) => [JSON.parse(line).id, line]));
    await writeFile(out, `${[...rows.values()].join('\n')}\n`);
    console.log(
      `api-enrich: ${rows.size} customers enriched in ${out} (${lines.length - rows.size} rows repeated by a crash removed); ` +
        `up to ${this.maxInFlight} calls at once in the last run`,
    );
  }
}
