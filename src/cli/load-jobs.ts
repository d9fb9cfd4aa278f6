import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isIterableJobClass, jobNameOf, type IterableJobClass } from '../iterable-job.js';
import { UsageError } from './usage.js';

/**
 * Imports user modules and collects every exported `IterableJob` subclass by job name. Importing also runs the
 * modules' side effects: registering adapters and lifecycle hooks is how modules plug into the worker.
 */
export async function loadJobs(modules: readonly string[]): Promise<Map<string, IterableJobClass>> {
  if (modules.length === 0) throw new UsageError('no module given: name the file that exports your IterableJob classes');
  const jobs = new Map<string, IterableJobClass>();
  for (const spec of modules) {
    const path = resolve(spec);
    if (!existsSync(path)) throw new UsageError(`module not found: ${spec} (looked at ${path})`);
    if (/\.(c|m)?tsx?$/.test(path) && !process.execArgv.some((a) => a.includes('tsx')) && !process.env.NODE_OPTIONS?.includes('tsx')) {
      // Node 20 cannot import TypeScript by itself; say how instead of failing with a syntax error.
      throw new UsageError(`${spec} is TypeScript: run with NODE_OPTIONS="--import tsx" (npm i -D tsx), or compile it to .js first`);
    }
    let exports: Record<string, unknown>;
    try {
      exports = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    } catch (error) {
      throw new UsageError(`could not load ${spec}: ${(error as Error).message.split('\n')[0]}`);
    }
    let found = 0;
    for (const value of Object.values(exports)) {
      if (!isIterableJobClass(value)) continue;
      const name = jobNameOf(value);
      const existing = jobs.get(name);
      if (existing && existing !== value) {
        throw new UsageError(`two job classes are named "${name}" (${existing.name} and ${value.name}); set distinct static jobName values`);
      }
      jobs.set(name, value);
      found++;
    }
    if (found === 0) throw new UsageError(`${spec} exports no IterableJob subclass (export your job classes by name)`);
  }
  return jobs;
}

/** The job named `name`, or the only job when `name` is omitted and there is exactly one. */
export function pickJob(jobs: Map<string, IterableJobClass>, name: string | undefined): IterableJobClass {
  if (name === undefined) {
    if (jobs.size === 1) return [...jobs.values()][0]!;
    throw new UsageError(`--job is required: the module exports ${jobs.size} jobs (${[...jobs.keys()].join(', ')})`);
  }
  const job = jobs.get(name);
  if (!job) throw new UsageError(`unknown job "${name}" (known: ${[...jobs.keys()].join(', ')})`);
  return job;
}
