import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { JobIterationError } from '../errors.js';
import { isIterableJobClass, jobNameOf, type IterableJobClass } from '../iterable-job.js';
import { describeProgressStep } from '../extent.js';
import { redactUrls } from '../redact.js';
import {
  cancelJob,
  enqueue,
  enqueuePartitioned,
  getIterationState,
  listIterableJobs,
  pauseJob,
  resumeJob,
  retryJob,
  stallSuspects,
  JobNotFoundError,
  MAX_PARTITIONS,
  type AnyQueue,
  type ControlResult,
  type IterationJobInfo,
} from '../bullmq/index.js';
import { APP_JS, APP_CSS, page } from './assets.js';

/** Who may use the dashboard: HTTP Basic credentials, or a bearer token (`Authorization: Bearer <token>`). */
export type DashboardAuth = { username: string; password: string } | { token: string };

/** Options of `createDashboard`. */
export interface DashboardOptions {
  /** The queues to show, on either backend; the dashboard never closes them. */
  queues: readonly AnyQueue[];
  /** The job classes "Run a job" offers. Without them the form is not shown. */
  jobs?: readonly IterableJobClass<any, any, any>[];
  /**
   * The public path the dashboard answers under, e.g. `/jobs`. Requests outside it go to `next` (or get a 404).
   * Under Express, give the full path whether or not you mount the handler at it: the handler reads `originalUrl`.
   * @defaultValue `''` (the root)
   */
  basePath?: string;
  /** Required credentials; without them anyone who can reach the port can pause and cancel jobs. */
  auth?: DashboardAuth;
  /**
   * Jobs listed at most, per queue, the jobs at work first.
   * @defaultValue 100
   */
  limit?: number;
  /** The page's title. @defaultValue `job-iteration` */
  title?: string;
}

export type DashboardHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

/** A request that was refused, with the status and message the client gets. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const ACTIONS = { pause: pauseJob, resume: resumeJob, cancel: cancelJob, retry: retryJob } as const;

/** The header every action must carry: a cross-site form or `<img>` cannot set it, and a cross-site fetch that does is preflighted and refused. */
export const ACTION_HEADER = 'x-job-iteration';

const MAX_BODY_BYTES = 64 * 1024;


/**
 * A request handler that serves a page listing the iterable jobs of `queues`, live, with pause, resume, cancel and
 * retry, each job's details, and a form to enqueue a job. It mounts in a plain `http` server, in Express
 * (`app.use(handler)`) and in Fastify (through `@fastify/middie`). Actions are POSTs that need the
 * `x-job-iteration: 1` header and a same-origin request; every value reaches the page as text, never as markup.
 */
export function createDashboard(options: DashboardOptions): DashboardHandler {
  const queues = [...options.queues];
  if (queues.length === 0) throw new TypeError('createDashboard: `queues` needs at least one BullMQ Queue');
  const jobs = new Map<string, IterableJobClass<any, any, any>>();
  for (const JobClass of options.jobs ?? []) {
    if (!isIterableJobClass(JobClass)) throw new TypeError('createDashboard: `jobs` takes IterableJob subclasses only');
    jobs.set(jobNameOf(JobClass), JobClass);
  }
  const base = normalizeBase(options.basePath ?? '');
  const limit = options.limit ?? 100;
  const title = options.title ?? 'job-iteration';
  const checkAuth = authChecker(options.auth);

  async function serve(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    // Without credentials the only guard is that the page is reachable from this machine alone. A site whose name
    // is rebound to 127.0.0.1 would pass every same-origin check, so the name asked for must be a loopback one too.
    if (!options.auth && !isLoopbackHost(req.headers.host)) {
      throw new HttpError(421, `refused: without auth the dashboard answers only to a loopback host name, not "${String(req.headers.host)}"`);
    }
    if (!checkAuth(req.headers.authorization)) {
      res.setHeader('www-authenticate', 'Basic realm="job-iteration", charset="UTF-8"');
      throw new HttpError(401, 'authentication required');
    }
    const method = req.method ?? 'GET';
    if (method === 'POST') {
      assertSameOrigin(req);
      const body = await readBody(req);
      if (path === '/api/run') return sendJson(res, 200, await run(body));
      const action = /^\/api\/(pause|resume|cancel|retry)$/.exec(path)?.[1] as keyof typeof ACTIONS | undefined;
      if (!action) throw new HttpError(404, 'no such action');
      const { queue, id } = target(body);
      try {
        return sendJson(res, 200, outcome(action, await ACTIONS[action](queue, id)));
      } catch (error) {
        if (error instanceof JobNotFoundError) throw new HttpError(404, error.message);
        throw error;
      }
    }
    if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'method not allowed');
    if (path === '') {
      // Relative links need the trailing slash.
      res.writeHead(302, { location: `${base}/` }).end();
      return;
    }
    if (path === '/') return send(res, 200, 'text/html; charset=utf-8', page({ base, title, view: 'list' }));
    if (path === '/job') return send(res, 200, 'text/html; charset=utf-8', page({ base, title, view: 'job' }));
    if (path === '/assets/app.js') return send(res, 200, 'text/javascript; charset=utf-8', APP_JS);
    if (path === '/assets/app.css') return send(res, 200, 'text/css; charset=utf-8', APP_CSS);
    if (path === '/api/meta') {
      return sendJson(res, 200, {
        title,
        queues: queues.map((q, i) => ({ index: i, name: q.name })),
        jobs: [...jobs.entries()].map(([name, JobClass]) => ({ name, partitioned: typeof JobClass.partition === 'function' })),
      });
    }
    if (path === '/api/jobs') return sendJson(res, 200, { at: new Date().toISOString(), jobs: await list() });
    if (path === '/api/job') {
      const { queue, index, id } = target({ queue: query.get('queue'), id: query.get('id') });
      return sendJson(res, 200, await details(queue, index, id));
    }
    throw new HttpError(404, 'not found');
  }

  function target(body: unknown): { queue: AnyQueue; index: number; id: string } {
    const { queue: q, id } = (body && typeof body === 'object' ? body : {}) as { queue?: unknown; id?: unknown };
    const index = Number(q ?? 0);
    const queue = Number.isInteger(index) ? queues[index] : undefined;
    if (!queue) throw new HttpError(400, `no queue ${JSON.stringify(q)}`);
    if (typeof id !== 'string' || id === '') throw new HttpError(400, 'a job id is required');
    return { queue, index, id };
  }

  async function list() {
    const all = await Promise.all(
      queues.map(async (queue, index) => {
        const infos = await listIterableJobs(queue, { limit });
        const suspects = await stallSuspects(queue, infos);
        return infos.map((info) => row(info, index, queue.name, suspects.has(info.id)));
      }),
    );
    return all.flat();
  }

  async function details(queue: AnyQueue, index: number, id: string) {
    const info = await getIterationState(queue, id);
    if (!info) throw new HttpError(404, `queue "${queue.name}" has no job ${id}`);
    const [job, logs, suspects] = await Promise.all([queue.getJob(id), queue.getJobLogs(id, 0, 999), stallSuspects(queue, [info])]);
    return {
      ...row(info, index, queue.name, suspects.has(id)),
      params: info.params,
      state: info.state,
      control: info.control,
      invalid: info.invalid,
      timestamp: info.timestamp,
      processedOn: info.processedOn,
      finishedOn: info.finishedOn,
      stacktrace: (job?.stacktrace ?? []).filter(Boolean),
      logs: logs.logs,
      logCount: logs.count,
    };
  }

  async function run(body: unknown) {
    const { job: name, params: text, partitions: k, queue: q } = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
    const JobClass = typeof name === 'string' ? jobs.get(name) : undefined;
    if (!JobClass) throw new HttpError(400, `no job named ${JSON.stringify(name)}`);
    const index = Number(q ?? 0);
    const queue = Number.isInteger(index) ? queues[index] : undefined;
    if (!queue) throw new HttpError(400, `no queue ${JSON.stringify(q)}`);
    let params: unknown;
    try {
      params = JSON.parse(typeof text === 'string' && text.trim() !== '' ? text : '{}');
    } catch (error) {
      throw new HttpError(400, `params are not valid JSON: ${(error as Error).message}`);
    }
    if (params === null || typeof params !== 'object' || Array.isArray(params)) throw new HttpError(400, 'params must be a JSON object');
    const partitions = k === undefined || k === null || k === '' ? undefined : Number(k);
    if (partitions !== undefined && !(Number.isInteger(partitions) && partitions >= 1 && partitions <= MAX_PARTITIONS)) {
      throw new HttpError(400, `partitions must be an integer from 1 to ${MAX_PARTITIONS}`);
    }
    try {
      if (partitions !== undefined) {
        if (typeof JobClass.partition !== 'function') throw new HttpError(400, `job "${name}" has no static partition() method, so it cannot be split`);
        const { parent, partitions: made } = await enqueuePartitioned(queue, JobClass, params, partitions);
        return { id: parent.id, queue: index, name: parent.name, partitions: made.map((p) => p.id) };
      }
      const job = await enqueue(queue, JobClass, params);
      return { id: job.id, queue: index, name: job.name };
    } catch (error) {
      // Params the job refuses are the caller's to fix, not a server fault.
      if (error instanceof JobIterationError) throw new HttpError(400, error.message);
      throw error;
    }
  }

  return (req, res, next) => {
    const raw = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    // The path as sent, not as a URL parser would tidy it: `/static/%2e%2e/jobs/api/cancel` must not become
    // `/jobs/api/cancel` here when the framework in front of us matched (and guarded) it as something else.
    const rawPath = raw.split('?')[0]!;
    if (/(^|\/)(\.|%2e){1,2}(\/|$)|\/\/|\\/i.test(rawPath)) {
      sendJson(res, 400, { error: 'a path with dot segments, empty segments or backslashes is refused' });
      return;
    }
    const url = new URL(raw, 'http://dashboard.invalid');
    const path = url.pathname;
    if (!(path === base || path.startsWith(`${base}/`))) {
      if (next) next();
      else sendJson(res, 404, { error: 'not found' });
      return;
    }
    serve(req, res, path.slice(base.length), url.searchParams).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof HttpError) sendJson(res, error.status, { error: error.message });
      else sendJson(res, 503, { error: error instanceof Error ? error.message : String(error) });
    });
  };
}

function normalizeBase(basePath: string): string {
  const trimmed = basePath.replace(/\/+$/, '');
  // Plain segments only: the base goes into a redirect, links and the page's fetches.
  if (trimmed !== '' && !/^(\/[A-Za-z0-9._~-]+)+$/.test(trimmed)) {
    throw new TypeError(`createDashboard: basePath must be "/" followed by plain path segments (letters, digits, . _ ~ -); got "${basePath}"`);
  }
  return trimmed;
}

/** `localhost`, `127.x.x.x` or `[::1]`, with any port. */
function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.replace(/:\d+$/, '').toLowerCase();
  return name === 'localhost' || name === '[::1]' || /^127(\.\d{1,3}){3}$/.test(name);
}

/** What the page shows of a job in its row. */
function row(info: IterationJobInfo, queue: number, queueName: string, stalled: boolean) {
  const progress = (info.progress && typeof info.progress === 'object' ? info.progress : {}) as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  return {
    queue,
    queueName,
    id: info.id,
    name: info.name,
    status: stalled ? 'stalled?' : displayStatus(info),
    queueState: info.queueState,
    percentage: num(progress.percentage),
    step: describeProgressStep(progress),
    iterations: info.state?.iterations ?? num(progress.iterations) ?? 0,
    total: num(progress.total),
    done: num(progress.done),
    unit: typeof progress.unit === 'string' ? progress.unit : undefined,
    ratePerSecond: num(progress.ratePerSecond),
    etaMs: num(progress.etaMs),
    cursor: info.state && 'cursor' in info.state ? info.state.cursor : progress.cursor,
    timesInterrupted: info.state?.timesInterrupted ?? num(progress.timesInterrupted) ?? 0,
    lastInterruption: info.state?.lastInterruption?.reason,
    attemptsMade: info.attemptsMade,
    error: info.failedReason ?? info.invalid,
    partitionOf: info.partition?.parentId,
  };
}

/** `pending` said the way a queue does: waiting, delayed, or waiting for its partitions. */
function displayStatus(info: IterationJobInfo): string {
  if (info.status === 'pending') return info.queueState === 'delayed' ? 'delayed' : info.queueState === 'waiting-children' ? 'waiting-children' : 'waiting';
  return info.status;
}

function outcome(action: string, result: ControlResult): { action: string; effect: string; message: string; cursor?: unknown } {
  const done = { pause: 'paused', resume: 'resumed', cancel: 'cancelled', retry: 'back in the queue' }[action];
  const message =
    result.effect === 'applied'
      ? `${done}${action === 'retry' && result.cursor !== undefined ? `; resumes after cursor ${JSON.stringify(result.cursor)}` : ''}`
      : result.effect === 'requested'
        ? `${action} requested; the worker acts at the next checkpoint`
        : `nothing to do (${result.reason ?? `job is ${result.queueState}`})`;
  return { action, effect: result.effect, message, cursor: result.cursor };
}

/** A constant-time check of the Authorization header; no auth configured lets every request in. */
function authChecker(auth: DashboardAuth | undefined): (header: string | undefined) => boolean {
  if (!auth) return () => true;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const same = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));
  if ('token' in auth) {
    if (!auth.token) throw new TypeError('createDashboard: auth.token must not be empty');
    return (header) => header !== undefined && same(header, `Bearer ${auth.token}`);
  }
  if (!auth.username || !auth.password) throw new TypeError('createDashboard: auth needs a username and a password');
  const expected = `${auth.username}:${auth.password}`;
  return (header) => {
    const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
    return match !== null && same(Buffer.from(match[1]!, 'base64').toString('utf8'), expected);
  };
}

/** Actions must come from the page itself: the custom header, and no sign of another site. */
function assertSameOrigin(req: IncomingMessage): void {
  if (req.headers[ACTION_HEADER] !== '1') throw new HttpError(403, `cross-site request refused: the ${ACTION_HEADER} header is missing`);
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new HttpError(403, `cross-site request refused (Sec-Fetch-Site: ${site})`);
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host === undefined || host !== req.headers.host) throw new HttpError(403, 'cross-site request refused: Origin is another site');
  }
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  // Express or Fastify may have parsed it already.
  const parsed = (req as { body?: unknown }).body;
  if (parsed !== undefined && typeof parsed === 'object') return parsed;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'request body too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'the request body is not JSON');
  }
}

/** Every string in `value` with URL passwords hidden: a job's params, error or log may quote a connection URL. */
function redactDeep(value: unknown): unknown {
  if (typeof value === 'string') return redactUrls(value);
  if (Array.isArray(value)) return value.map(redactDeep);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)]));
  return value;
}

const SECURITY_HEADERS = {
  // No inline script or style at all: a value that slipped through as markup could still not run.
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(redactDeep(body)));
}
