import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isIterableJobClass, jobNameOf, type IterableJobClass } from '../iterable-job.js';
import { JobModuleError } from './errors.js';
import { locateSyntaxError } from './syntax-error.js';

/**
 * Imports user modules and collects every exported `IterableJob` subclass by job name. Importing also runs the
 * modules' side effects: registering adapters and lifecycle hooks is how modules plug into the worker.
 * Every problem is a `JobModuleError`.
 */
export async function loadJobs(modules: readonly string[]): Promise<Map<string, IterableJobClass>> {
  if (modules.length === 0) throw new JobModuleError('', 'no module given: name the file that exports your IterableJob classes');
  const jobs = new Map<string, IterableJobClass>();
  for (const spec of modules) {
    const path = resolve(spec);
    if (!existsSync(path)) throw new JobModuleError(spec, `module not found: ${spec} (looked at ${path})`);
    if (/\.(c|m)?tsx?$/.test(path) && !process.execArgv.some((a) => a.includes('tsx')) && !process.env.NODE_OPTIONS?.includes('tsx')) {
      // Node 20 cannot import TypeScript by itself; say how instead of failing with a syntax error.
      throw new JobModuleError(spec, `${spec} is TypeScript: run with NODE_OPTIONS="--import tsx" (npm i -D tsx), or compile it to .js first`);
    }
    let exports: Record<string, unknown>;
    try {
      exports = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    } catch (error) {
      throw new JobModuleError(spec, `could not load ${spec}: ${await describeLoadError(error, path)}`, { cause: error });
    }
    let found = 0;
    for (const value of Object.values(exports)) {
      if (!isIterableJobClass(value)) continue;
      const name = jobNameOf(value);
      const existing = jobs.get(name);
      if (existing && existing !== value) {
        throw new JobModuleError(spec, `two job classes are named "${name}" (${existing.name} and ${value.name}); set distinct static jobName values`);
      }
      jobs.set(name, value);
      found++;
    }
    if (found === 0) throw new JobModuleError(spec, `${spec} exports no IterableJob subclass (export your job classes by name)`);
  }
  return jobs;
}

/** Where this package's own modules are (`dist/src/` once built). */
const OWN_FILES = new URL('../', import.meta.url).href;

/**
 * One line that says what stopped a module from loading and where: a syntax error with its file and line, an error
 * thrown while the module ran with the place it was thrown from.
 */
async function describeLoadError(error: unknown, path: string): Promise<string> {
  if (!(error instanceof Error)) return String(error);
  const [first = '', ...rest] = error.message.split('\n');
  // A loader that compiles the module (tsx) puts the location on the line after its summary.
  const located = rest.find((line) => /^\S.*:\d+:\d+: /.test(line));
  if (located) return located;
  // A name imported that its module does not export fails at link time, also as a SyntaxError; its message names
  // both modules and no parser can place it.
  if (/does not provide an export named/.test(first)) return `${error.name}: ${first}`;
  if (error.name === 'SyntaxError' && !/^ {4}at file:/m.test(error.stack ?? '')) {
    const where = await locateSyntaxError(path);
    return where ? `syntax error at ${where}: ${first}` : `syntax error in it or in a module it imports: ${first} (node --check names the line)`;
  }
  // The first frame in the user's code: this package's own frames (the import call) say nothing about the module.
  const frames = [...(error.stack ?? '').matchAll(/^ {4}at (?:.* \()?(file:\/\/[^\s)]+):(\d+):(\d+)\)?$/gm)];
  const frame = frames.find((f) => !f[1]!.startsWith(OWN_FILES));
  return frame ? `${error.name}: ${first} (at ${fileURLToPath(frame[1]!)}:${frame[2]}:${frame[3]})` : `${error.name}: ${first}`;
}
