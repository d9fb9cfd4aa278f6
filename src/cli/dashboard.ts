import { createServer } from 'node:http';
import { isIP } from 'node:net';
import { createDashboard, type DashboardAuth } from '../dashboard/index.js';
import { loadJobs } from '../process/load-jobs.js';
import { redactUrl } from '../redact.js';
import { intFlag } from './args.js';
import type { dashboardFlags, Parsed } from './flags.js';
import { withQueue } from './queue-commands.js';
import { ExitCode, UsageError } from './usage.js';

/** Whether only this machine can reach `host`: then a dashboard without a password exposes nothing. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

function authFlag(value: string | undefined): DashboardAuth | undefined {
  if (value === undefined || value === '') return undefined;
  const colon = value.indexOf(':');
  if (colon <= 0 || colon === value.length - 1) throw new UsageError('--auth must be user:password, both non-empty');
  return { username: value.slice(0, colon), password: value.slice(colon + 1) };
}

/** `job-iteration dashboard <module...>`: the dashboard on one queue, until Ctrl-C or TERM. */
export async function dashboardCommand({ values, positionals }: Parsed<typeof dashboardFlags>): Promise<number> {
  const host = values.host ?? '127.0.0.1';
  const port = intFlag('port', values.port, 3000, 0);
  if (port > 65535) throw new UsageError(`--port must be at most 65535; got "${values.port}"`);
  const auth = authFlag(values.auth ?? process.env.JOB_ITERATION_DASHBOARD_AUTH);
  if (!auth && !isLoopback(host)) {
    // One line and no usage text: the flags were fine, binding them this way is what is refused.
    console.error(`job-iteration: dashboard: refusing to serve on ${host} without --auth: anyone who reaches it could cancel jobs (use --auth user:password, or --host 127.0.0.1)`);
    return ExitCode.usage;
  }
  if (positionals.length === 0) throw new UsageError('dashboard takes one or more modules that export your job classes');
  const jobs = [...(await loadJobs(positionals)).values()];
  return withQueue(values, async ({ queue, target }) => {
    const handler = createDashboard({ queues: [queue], jobs, ...(auth ? { auth } : {}), title: `job-iteration: ${queue.name}` });
    const server = createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'EADDRINUSE' || error.code === 'EACCES' || error.code === 'EADDRNOTAVAIL' ? new UsageError(`cannot listen on ${host}:${port}: ${error.code}`) : error),
      );
      server.listen(port, host, resolve);
    });
    const address = server.address();
    const actual = address && typeof address === 'object' ? address.port : port;
    const shown = host.includes(':') ? `[${host}]` : host;
    console.log(`http://${shown}:${actual}/`);
    console.error(`dashboard of queue "${queue.name}" on ${redactUrl(target.url)} at http://${shown}:${actual}/${auth ? ' (Basic auth)' : ''}; Ctrl-C to stop`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return ExitCode.ok;
  });
}
