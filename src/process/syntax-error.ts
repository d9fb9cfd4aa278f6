import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Relative module specifiers a file imports statically: the only ones a syntax error can hide in before any code runs. */
const STATIC_IMPORT = /(?:^|[;\s])(?:import|export)\s(?:[^'";]*?\sfrom\s*)?['"](\.{1,2}\/[^'"]+)['"]/g;

/** How many files the search checks before it gives up: a syntax error is near the module named, not deep in a tree. */
const MAX_FILES = 20;

/**
 * Where a syntax error that failed `import()` is, as `file:line`. Node 20 keeps the location of an ES module's
 * syntax error out of the error object it rejects with (it prints it only for an uncaught one), so this asks
 * `node --check`, which parses without running anything, of the module and of the relative modules it imports, in
 * order. `undefined` when none of them reports one (a package's module, or a file `--check` cannot read).
 */
export async function locateSyntaxError(entry: string): Promise<string | undefined> {
  const seen = new Set<string>();
  const queue = [resolve(entry)];
  while (queue.length > 0 && seen.size < MAX_FILES) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    // TypeScript is not Node's to check; a loader (tsx) names the location in its own message.
    if (!/\.(c|m)?jsx?$/.test(file)) continue;
    const found = await check(file);
    if (found) return found;
    let source: string;
    try {
      source = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const match of source.matchAll(STATIC_IMPORT)) queue.push(resolve(dirname(file), match[1]!));
  }
  return undefined;
}

async function check(file: string): Promise<string | undefined> {
  try {
    await run(process.execPath, ['--check', file], { timeout: 10_000 });
    return undefined;
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '');
    // `node --check` opens its report with the place: `/path/to/file.mjs:12`.
    return /^(.+:\d+)$/m.exec(stderr)?.[1];
  }
}
