import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { randomUUID } from 'node:crypto';
import { createPostgresBackend, withBackend } from 'bullmq';
import { IterableJob, defineSteps, fromArray } from '../../src/index.js';
import { IterationWorker, enqueue, getIterationState } from '../../src/bullmq/index.js';
import { createDashboard, type DashboardOptions } from '../../src/dashboard/index.js';
import { Sequence, closeRecorder } from '../fixtures/bullmq-jobs.js';
import { freshQueue, waitFor } from '../support/queue.js';
import { ROOT, TEST_TIMEOUT_MS, startCli } from '../support/process.js';
import { newPool, PG_TIMEOUTS, PG_URL, uniqueName } from '../support/postgres.js';

/** A job whose first item throws `params.message`: an error message the test controls. */
class Explode extends IterableJob<{ message: string; note?: string }, number, number> {
  static override jobName = 'explode';
  *buildEnumerator() {
    yield [0, 0] as [number, number];
  }
  async eachIteration(_item: number, params: { message: string }) {
    throw new Error(params.message);
  }
}

const PLANT = `<script>window.__planted = 1</script><img src=x onerror="window.__planted = 2; alert(1)">`;
const WAIT_MS = 30_000;

/** A step job: a plain step, then items at the pace a page can watch. */
const Phases = defineSteps<{ upTo: number; delayMs: number }>({
  name: 'phases',
  steps: [
    { name: 'prepare', run() {} },
    {
      name: 'count',
      buildEnumerator: ({ upTo }, { cursor }) => fromArray(Array.from({ length: upTo }, (_, i) => i), { cursor }),
      eachIteration: (_item: number, { delayMs }) => new Promise((resolve) => setTimeout(resolve, delayMs)),
    },
  ],
});

let browser: Browser;
before(async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'], headless: true });
});
after(async () => {
  await browser?.close();
  await closeRecorder();
});

/** A fresh queue, a worker on it, and the dashboard on a plain http server; all closed after the test. */
async function setup(label: string, ctx: { after(fn: () => Promise<void>): void }, options: Partial<DashboardOptions> = {}) {
  const t = await freshQueue(`dash-${label}`);
  const worker = new IterationWorker(t.name, { jobs: [Sequence, Explode, Phases], handleSignals: false, checkpointIntervalMs: 50, controlPollIntervalMs: 50 });
  const handler = createDashboard({ queues: [t.queue], jobs: [Sequence, Explode, Phases], basePath: '/jobs', ...options });
  const server: Server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const pages: Page[] = [];
  ctx.after(async () => {
    for (const p of pages) await p.context().close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await worker.close();
    await t.cleanup();
  });
  const open = async (path = '/jobs/', contextOptions: Parameters<Browser['newContext']>[0] = {}) => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 800 }, ...contextOptions });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    pages.push(page);
    await page.goto(origin + path);
    return page;
  };
  return { t, worker, origin, open };
}

const row = (page: Page, id: string) => page.locator(`tr[data-key="0:${id}"]`);
const statusOf = async (queue: Parameters<typeof getIterationState>[0], id: string) => (await getIterationState(queue, id))?.status;

describe('dashboard', () => {
  test("shows a step job's current step and that step's own progress, in its row and on its page", { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const { t, open } = await setup('steps', ctx);
    const job = await enqueue(t.queue, Phases, { upTo: 3000, delayMs: 10 });
    const page = await open();
    const text = row(page, job.id!).locator('td').nth(3);
    await waitFor('the step in the row', async () => /^step 2\/2 count: [1-9]\d*%$/.test(((await text.textContent()) ?? '').trim()), WAIT_MS, 100);
    await page.goto(`${page.url().replace(/\/$/, '')}/job?queue=0&id=${job.id}`);
    await waitFor('the step on the job page', async () => /^step 2\/2 count: \d+%$/.test((await page.locator('#job-percent').textContent()) ?? ''), WAIT_MS, 100);
  });

  test('shows a running job moving, and Pause, Resume and Cancel act on it', { timeout: TEST_TIMEOUT_MS * 2 }, async (ctx) => {
    const { t, open } = await setup('control', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 5000, delayMs: 20, record: t.record });
    const page = await open();
    const bar = row(page, job.id!).locator('progress');
    await page.locator(`tr[data-key="0:${job.id}"][data-status="running"]`).waitFor();
    await waitFor('a percentage on the bar', async () => (await bar.getAttribute('aria-valuenow')) !== null, WAIT_MS);
    const first = Number(await bar.getAttribute('aria-valuenow'));
    await waitFor('the bar to move', async () => Number(await bar.getAttribute('aria-valuenow')) > first, WAIT_MS, 100);
    assert.match((await row(page, job.id!).textContent()) ?? '', /sequence/);

    await row(page, job.id!).locator('button[data-action="pause"]').click();
    await waitFor('the job paused in Redis', async () => (await statusOf(t.queue, job.id!)) === 'paused', WAIT_MS);
    await page.locator(`tr[data-key="0:${job.id}"][data-status="paused"]`).waitFor();
    assert.match((await row(page, job.id!).locator('.outcome').textContent()) ?? '', /pause/);

    await row(page, job.id!).locator('button[data-action="resume"]').click();
    await waitFor('the job running again', async () => (await statusOf(t.queue, job.id!)) === 'running', WAIT_MS);
    await row(page, job.id!).locator('.outcome', { hasText: 'resumed' }).waitFor();

    let asked = '';
    page.once('dialog', (dialog) => {
      asked = `${dialog.type()}: ${dialog.message()}`;
      void dialog.accept();
    });
    await page.locator(`tr[data-key="0:${job.id}"][data-status="running"] button[data-action="cancel"]`).click();
    await waitFor('the job cancelled in Redis', async () => (await statusOf(t.queue, job.id!)) === 'cancelled', WAIT_MS);
    assert.match(asked, /^confirm: Cancel job/);
    await page.locator(`tr[data-key="0:${job.id}"][data-status="cancelled"]`).waitFor();

    if (process.env.UPDATE_SCREENSHOT === '1') {
      // A page with a job of each kind, for docs/dashboard.png.
      // One worker runs one job at a time: the short ones first, then one that is still running for the picture.
      await enqueue(t.queue, Sequence, { upTo: 50, record: t.record });
      await enqueue(t.queue, Explode, { message: 'connection reset by peer' });
      await page.locator('tr[data-status="completed"]').first().waitFor();
      await page.locator('tr[data-status="failed"]').first().waitFor();
      const running = await enqueue(t.queue, Sequence, { upTo: 5000, delayMs: 20, record: t.record });
      await page.locator(`tr[data-key="0:${running.id}"][data-status="running"]`).waitFor();
      await waitFor('progress on the new job', async () => Number(await row(page, running.id!).locator('progress').getAttribute('aria-valuenow')) > 3, WAIT_MS, 100);
      await page.screenshot({ path: join(ROOT, 'docs', 'dashboard.png'), fullPage: true });
    }
  });

  test('Retry puts a failed job back and it resumes after its cursor; its page shows the error and the log', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const { t, worker, open } = await setup('retry', ctx);
    Sequence.failuresLeft = 1;
    ctx.after(async () => void (Sequence.failuresLeft = 0));
    const failed = new Promise((resolve) => worker.once('failed', resolve));
    const job = await enqueue(t.queue, Sequence, { upTo: 30, failAt: 10, record: t.record }, { attempts: 1 });
    await failed;
    const page = await open();
    await page.locator(`tr[data-key="0:${job.id}"][data-status="failed"]`).waitFor();
    assert.match((await row(page, job.id!).locator('td.err').textContent()) ?? '', /failed at item 10/);

    await row(page, job.id!).locator('button[data-action="retry"]').click();
    await row(page, job.id!).locator('.outcome', { hasText: 'resumes after cursor 9' }).waitFor();
    await waitFor('the retried job to complete', async () => (await statusOf(t.queue, job.id!)) === 'completed', WAIT_MS);
    assert.deepEqual(await t.items(), Array.from({ length: 30 }, (_, i) => i), 'no item done twice');
    await page.locator(`tr[data-key="0:${job.id}"][data-status="completed"]`).waitFor();

    await row(page, job.id!).locator('td a').click();
    await page.waitForURL(/\/jobs\/job\?queue=0&id=/);
    await page.locator('#job-title', { hasText: `job ${job.id}` }).waitFor();
    await page.locator('#job-error', { hasText: 'failed at item 10' }).waitFor();
    assert.match((await page.locator('#job-params').textContent()) ?? '', /"failAt": 10/);
    assert.match((await page.locator('#job-state').textContent()) ?? '', /"status": "completed"/);
    assert.ok((await page.locator('#job-logs li').count()) > 0, 'the job log is shown');
  });

  test('Run a job: bad JSON and refused params show an error; good params enqueue the job', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const { t, open } = await setup('run', ctx);
    const page = await open();
    await page.locator('#run-job option[value="sequence"]').waitFor({ state: 'attached' });
    await page.selectOption('#run-job', 'sequence');
    await page.fill('#run-params', '{"upTo": 3,');
    await page.click('#run-form button[type="submit"]');
    await page.locator('#run-result.bad', { hasText: 'not valid JSON' }).waitFor();
    assert.equal(await page.getAttribute('#run-params', 'aria-invalid'), 'true');

    await page.fill('#run-params', '[1, 2]');
    await page.click('#run-form button[type="submit"]');
    await page.locator('#run-result.bad', { hasText: 'params must be a JSON object' }).waitFor();

    await page.fill('#run-params', `{"upTo": 3, "record": ${JSON.stringify(t.record)}}`);
    await page.click('#run-form button[type="submit"]');
    const result = page.locator('#run-result', { hasText: 'Enqueued sequence as job' });
    await result.waitFor();
    const id = /as job (\S+?)\./.exec((await result.textContent()) ?? '')?.[1];
    assert.ok(id);
    await waitFor('the enqueued job to complete', async () => (await statusOf(t.queue, id)) === 'completed', WAIT_MS);
    assert.deepEqual(await t.items(), [0, 1, 2]);
    await page.locator(`tr[data-key="0:${id}"][data-status="completed"]`).waitFor();

    await page.fill('#run-params', '{"upTo": 3}');
    await page.fill('#run-partitions', '2');
    await page.click('#run-form button[type="submit"]');
    await page.locator('#run-result.bad', { hasText: 'cannot be split' }).waitFor();
  });

  test('markup planted in params and in an error message renders as text, and URL passwords are hidden', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const { t, worker, open } = await setup('xss', ctx);
    const failed = new Promise((resolve) => worker.once('failed', resolve));
    const job = await enqueue(t.queue, Explode, { message: `${PLANT} via redis://app:hunter2@db.internal:6379`, note: PLANT });
    await failed;
    const page = await open();
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    const error = row(page, job.id!).locator('td.err');
    await error.waitFor();
    assert.equal(await error.textContent(), `${PLANT} via redis://app:***@db.internal:6379`);
    assert.equal(await page.locator('main img, main script').count(), 0);

    await page.goto(`${new URL(page.url()).origin}/jobs/job?queue=0&id=${encodeURIComponent(job.id!)}`);
    await page.locator('#job-params', { hasText: 'window.__planted' }).waitFor();
    assert.match((await page.locator('#job-params').textContent()) ?? '', /"note": "<script>window\.__planted = 1<\/script><img src=x onerror=\\"window\.__planted = 2; alert\(1\)\\">"/);
    assert.match((await page.locator('#job-error').textContent()) ?? '', /<img src=x onerror=/);
    assert.doesNotMatch(await page.content(), /hunter2/);
    assert.equal(await page.locator('main img, main script').count(), 0);
    assert.equal(await page.evaluate(() => (globalThis as { __planted?: number }).__planted), undefined);
    assert.deepEqual(dialogs, []);
  });

  test('with auth set, a request without credentials is refused (401) and one with them is served', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const { origin, open } = await setup('auth', ctx, { auth: { username: 'admin', password: 'pa:ss' } });
    const bare = await fetch(`${origin}/jobs/api/jobs`);
    assert.equal(bare.status, 401);
    assert.match(bare.headers.get('www-authenticate') ?? '', /^Basic/);
    const wrong = await fetch(`${origin}/jobs/`, { headers: { authorization: `Basic ${Buffer.from('admin:nope').toString('base64')}` } });
    assert.equal(wrong.status, 401);
    const good = await fetch(`${origin}/jobs/api/jobs`, { headers: { authorization: `Basic ${Buffer.from('admin:pa:ss').toString('base64')}` } });
    assert.equal(good.status, 200);
    assert.deepEqual(((await good.json()) as { jobs: unknown[] }).jobs, []);
    const page = await open('/jobs/', { httpCredentials: { username: 'admin', password: 'pa:ss' } });
    await page.locator('#empty').waitFor();
  });

  test('an action without the header, or from another site, is refused (403) and does nothing', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const { t, origin, open } = await setup('csrf', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 5000, delayMs: 20, record: t.record });
    await waitFor('the job running', async () => (await statusOf(t.queue, job.id!)) === 'running', WAIT_MS);
    const body = JSON.stringify({ queue: 0, id: job.id });
    const json = { 'content-type': 'application/json' };
    assert.equal((await fetch(`${origin}/jobs/api/pause`, { method: 'POST', headers: json, body })).status, 403);
    const foreign = { ...json, 'x-job-iteration': '1', origin: 'http://evil.example' };
    assert.equal((await fetch(`${origin}/jobs/api/pause`, { method: 'POST', headers: foreign, body })).status, 403);
    const crossSite = { ...json, 'x-job-iteration': '1', 'sec-fetch-site': 'cross-site' };
    assert.equal((await fetch(`${origin}/jobs/api/pause`, { method: 'POST', headers: crossSite, body })).status, 403);

    // What a hostile site can make a browser send: a form that posts to the dashboard from another origin.
    const evil = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<form method="post" enctype="text/plain" action="${origin}/jobs/api/pause"><input name='{"queue":0,"id":"${job.id}","x":"' value='"}'></form>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    ctx.after(async () => void evil.close());
    const page = await open();
    await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/jobs/api/pause')),
      page.evaluate(() => (globalThis as unknown as { document: { forms: Array<{ submit(): void }> } }).document.forms[0]!.submit()),
    ]);
    assert.equal(response.status(), 403);
    assert.equal(await statusOf(t.queue, job.id!), 'running', 'no request reached the job');
    assert.equal((await getIterationState(t.queue, job.id!))?.control, undefined);
  });

  test('without auth a non-loopback Host is refused (a rebound name), and so are paths with dot segments; a base path must be plain', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const { t, origin } = await setup('rebind', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 5, record: t.record });
    const { request } = await import('node:http');
    const send = (path: string, headers: Record<string, string>, method = 'GET', body?: string) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        // Host, port and path apart: a URL string would be tidied (dot segments resolved) before it is sent.
        const req = request({ host: '127.0.0.1', port: new URL(origin).port, path, method, headers }, (res) => {
          let text = '';
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, text }));
        });
        req.on('error', reject);
        req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
        req.end(body);
      });
    // What a page on attacker.example sends once its name resolves to 127.0.0.1: same-origin in the browser's eyes.
    const rebound = { host: 'attacker.example:3000', origin: 'http://attacker.example:3000', 'sec-fetch-site': 'same-origin', 'x-job-iteration': '1', 'content-type': 'application/json' };
    assert.equal((await send('/jobs/api/jobs', rebound)).status, 421);
    assert.equal((await send('/jobs/api/cancel', rebound, 'POST', JSON.stringify({ queue: 0, id: job.id }))).status, 421);
    assert.notEqual((await getIterationState(t.queue, job.id!))?.state?.status, 'cancelled');
    assert.equal((await send('/jobs/api/jobs', { host: `localhost:${new URL(origin).port}` })).status, 200);
    assert.equal((await send('/static/%2e%2e/jobs/api/jobs', {})).status, 400);
    assert.equal((await send('/jobs/../jobs/api/jobs', {})).status, 400);
    assert.throws(() => createDashboard({ queues: [t.queue], jobs: [Sequence], basePath: '//evil.example' }), /basePath must be "\/" followed by plain path segments/);
  });

  test('job-iteration dashboard refuses a non-loopback host without --auth (exit 2, one line)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const cli = startCli(['dashboard', 'test/fixtures/cli-jobs.mjs', '--host', '0.0.0.0', '--queue', 'ji-test-dash-refused']);
    const { code } = await cli.exited;
    await cli.closed;
    assert.equal(code, 2);
    const lines = cli.stderr().trim().split('\n');
    assert.equal(lines.length, 1, cli.stderr());
    assert.match(lines[0]!, /^job-iteration: dashboard: refusing to serve on 0\.0\.0\.0 without --auth/);
  });

  test('job-iteration dashboard serves the page with --auth, and stops on TERM with exit 0', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('dash-cli', ctx);
    await t.queue.waitUntilReady();
    const cli = startCli(['dashboard', 'test/fixtures/cli-jobs.mjs', '--port', '0', '--queue', t.name, '--auth', 'ops:secret']);
    ctx.after(async () => void cli.child.kill('SIGKILL'));
    const url = await waitFor('the dashboard URL', () => /^http:\/\/127\.0\.0\.1:\d+\/$/m.exec(cli.stdout())?.[0], WAIT_MS);
    assert.equal((await fetch(`${url}api/jobs`)).status, 401);
    const res = await fetch(`${url}api/meta`, { headers: { authorization: `Basic ${Buffer.from('ops:secret').toString('base64')}` } });
    assert.equal(res.status, 200);
    const meta = (await res.json()) as { queues: unknown[]; jobs: Array<{ name: string }> };
    assert.deepEqual(meta.queues, [{ index: 0, name: t.name }]);
    assert.ok(meta.jobs.some((j: { name: string }) => j.name === 'numbers'));
    cli.child.kill('SIGTERM');
    assert.equal((await cli.exited).code, 0);
  });

  test('a PostgreSQL queue: the page lists its jobs, and Pause and Resume reach them', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const { Queue: PostgresQueue } = withBackend(createPostgresBackend);
    const schema = uniqueName('dash');
    const queue = new PostgresQueue(`ji-test-dash-pg-${randomUUID()}`, { connection: { connectionString: PG_URL, schema, migrate: true, max: 2, ...PG_TIMEOUTS } });
    const admin = newPool({ max: 1 });
    const handler = createDashboard({ queues: [queue], jobs: [Sequence] });
    const server = createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const context = await browser.newContext();
    ctx.after(async () => {
      await context.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await queue.close().catch(() => undefined);
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    });
    // No worker: the job waits, and a pause is a request the next worker acts on.
    const job = await enqueue(queue, Sequence, { upTo: 10 });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.locator(`tr[data-key="0:${job.id}"][data-status="waiting"]`).waitFor();
    await row(page, job.id!).locator('button[data-action="pause"]').click();
    await waitFor('the pause requested in PostgreSQL', async () => (await statusOf(queue, job.id!)) === 'pausing', WAIT_MS);
    await page.locator(`tr[data-key="0:${job.id}"][data-status="pausing"] button[data-action="resume"]`).click();
    await waitFor('the pause withdrawn', async () => (await statusOf(queue, job.id!)) === 'pending', WAIT_MS);
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/job?queue=0&id=${job.id}`);
    await page.locator('#job-params', { hasText: '"upTo": 10' }).waitFor();
  });

  test('under a base path it leaves other paths to next(), as Express mounts it (originalUrl)', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('dash-mount', ctx);
    const handler = createDashboard({ queues: [t.queue], basePath: '/admin/jobs/' });
    // What Express does under app.use('/admin/jobs', handler): req.url loses the mount path, originalUrl keeps it.
    const server = createServer((req, res) => {
      const original = req.url!;
      if (original.startsWith('/admin/jobs')) Object.assign(req, { originalUrl: original, url: original.slice('/admin/jobs'.length) || '/' });
      handler(req, res, () => res.writeHead(418).end('next'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    ctx.after(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    assert.equal((await fetch(`${origin}/elsewhere`)).status, 418);
    const bare = await fetch(`${origin}/admin/jobs`, { redirect: 'manual' });
    assert.equal(bare.status, 302);
    assert.equal(bare.headers.get('location'), '/admin/jobs/');
    const html = await (await fetch(`${origin}/admin/jobs/`)).text();
    assert.match(html, /<script type="module" src="\/admin\/jobs\/assets\/app\.js">/);
    const js = await fetch(`${origin}/admin/jobs/assets/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.equal((await fetch(`${origin}/admin/jobs/api/jobs`)).status, 200);
  });
});
