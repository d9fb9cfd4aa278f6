import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { COMMANDS } from '../../src/cli/commands.js';
import type { FlagSpecs } from '../../src/cli/flags.js';

const ROOT = join(import.meta.dirname, '..', '..');
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

interface Block {
  doc: string;
  line: number;
  lang: string;
  code: string;
}

function blocks(doc: string): Block[] {
  const text = readFileSync(join(ROOT, doc), 'utf8');
  const found: Block[] = [];
  for (const match of text.matchAll(/^```(\w*)\n([^]*?)^```$/gm)) {
    found.push({ doc, line: text.slice(0, match.index).split('\n').length + 1, lang: match[1]!, code: match[2]! });
  }
  return found;
}

const ALL = DOCS.flatMap(blocks);

describe('the documentation', () => {
  // Inside the package, so `import ... from 'job-iteration'` resolves to this package's own built types.
  const scratch = join(ROOT, `.docs-check-${process.pid}`);
  after(() => rmSync(scratch, { recursive: true, force: true }));

  test('every TypeScript sample type-checks against the built package', { timeout: 120_000 }, async () => {
    rmSync(scratch, { recursive: true, force: true });
    mkdirSync(scratch);
    const samples = ALL.filter((b) => b.lang === 'ts');
    assert.ok(samples.length >= 20, `found ${samples.length} samples`);
    const names = new Map<string, Block>();
    for (const sample of samples) {
      const name = `${sample.doc.replace(/[/.]/g, '_')}-${sample.line}.ts`;
      names.set(name, sample);
      // Each sample is a module of its own; the names it takes from around it are in context.d.ts.
      writeFileSync(join(scratch, name), `${sample.code}\nexport {};\n`);
    }
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        extends: '../tsconfig.json',
        // A sample shows one thing: it may leave a variable unread or a method without `override`.
        compilerOptions: { noEmit: true, rootDir: '..', noUnusedLocals: false, noUnusedParameters: false, noImplicitOverride: false },
        include: ['*.ts', '../test/docs/context.d.ts'],
      }),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await promisify(execFile)(process.execPath, [tsc, '-p', join(scratch, 'tsconfig.json')], { cwd: ROOT }).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    // Each error pointed back at the document and line it comes from.
    const errors = result
      .split('\n')
      .filter((line) => line.startsWith('.docs-check-'))
      .map((line) => {
        const [, file, row, rest] = /^\.docs-check-\d+\/([^(]+)\((\d+),\d+\): (.*)$/.exec(line) ?? [];
        const sample = file ? names.get(file) : undefined;
        return sample ? `${sample.doc}:${sample.line + Number(row) - 1}: ${rest}` : line;
      });
    assert.equal(result.trim() === '' ? 0 : errors.length || 1, 0, `samples that do not type-check:\n${errors.join('\n') || result}`);
  });

  test('every command line it shows names a command and flags that exist; each synopsis lists every flag of its command', () => {
    const byName = new Map(COMMANDS.map((c) => [c.name, c]));
    const problems: string[] = [];
    const lines: Array<{ where: string; text: string }> = [];
    for (const block of ALL.filter((b) => b.lang === 'sh')) {
      block.code.split('\n').forEach((text, i) => lines.push({ where: `${block.doc}:${block.line + i}`, text }));
    }
    for (const command of COMMANDS) command.examples.forEach((text) => lines.push({ where: `${command.name} --help example`, text }));
    // A synopsis wraps onto lines that start with spaces and a flag.
    const joined: typeof lines = [];
    for (const line of lines) {
      if (/^\s+\[?--/.test(line.text) && joined.length > 0) joined.at(-1)!.text += ` ${line.text.trim()}`;
      else joined.push({ ...line });
    }
    let checked = 0;
    for (const { where, text } of joined) {
      const match = /^(?:job-iteration|node dist\/src\/cli\/main\.js|npx job-iteration)\s+(\S+)(.*)$/.exec(text.replace(/\s+#.*$/, '').trim());
      if (!match) continue;
      checked++;
      const command = byName.get(match[1]!);
      if (!command) {
        problems.push(`${where}: unknown command "${match[1]}"`);
        continue;
      }
      const known = new Set(['help', ...Object.keys(command.flags)]);
      const shorts = new Set(Object.values(command.flags as FlagSpecs).flatMap((f) => (f.short ? [f.short] : [])));
      const used = [...match[2]!.matchAll(/(?:^|[\s[|])--([a-z][a-z-]*)/g)].map((m) => m[1]!);
      for (const flag of used) if (!known.has(flag)) problems.push(`${where}: ${command.name} has no --${flag}`);
      for (const short of match[2]!.matchAll(/(?:^|\s)-([a-z])\b/g)) if (!shorts.has(short[1]!)) problems.push(`${where}: ${command.name} has no -${short[1]}`);
      // A synopsis (it shows optional flags in brackets) must not leave one out.
      if (/\[--/.test(match[2]!)) {
        for (const flag of Object.keys(command.flags)) if (!used.includes(flag)) problems.push(`${where}: the synopsis of ${command.name} leaves out --${flag}`);
      }
    }
    assert.ok(checked >= 20, `found ${checked} command lines`);
    assert.deepEqual(problems, []);
  });

  test('every example file it names exists and is run by a test', () => {
    const tests = ['unit', 'integration'].flatMap((dir) => readdirSync(join(ROOT, 'test', dir)).map((f) => readFileSync(join(ROOT, 'test', dir, f), 'utf8'))).join('\n');
    const named = new Set<string>();
    for (const doc of DOCS) for (const match of readFileSync(join(ROOT, doc), 'utf8').matchAll(/\bexamples\/[\w./-]*\.(?:mjs|js|ts)\b/g)) named.add(match[0]);
    assert.ok(named.size >= 3, [...named].join(', '));
    const problems: string[] = [];
    for (const path of named) {
      if (!existsSync(join(ROOT, path))) problems.push(`${path} does not exist`);
      else if (!tests.includes(path)) problems.push(`${path} is named in the docs but no test runs it`);
    }
    assert.deepEqual(problems, [], `relative to ${relative(process.cwd(), ROOT) || '.'}`);
  });
});
