import { JobIterationError } from '../errors.js';
import { redactUrl, redactUrls } from '../redact.js';

/**
 * Errors of the process layer: what a supervisor, a forked worker or the CLI meets before any job runs (a Redis
 * URL, a Redis server, the user's job modules). They name the problem without naming a command line flag's
 * consequences: the CLI turns them into usage errors, a forked worker reports them and exits.
 */

/** A Redis URL that is not `redis://` or `rediss://` with a host. The message shows it with its password hidden. */
export class InvalidRedisUrlError extends JobIterationError {
  /** The URL with its password redacted. */
  readonly url: string;
  /** Where the URL came from, e.g. `--redis` or `REDIS_URL`. */
  readonly source: string;
  /** @param problem - what is wrong with a URL of the right scheme, e.g. its database number. */
  constructor(url: string, source: string, problem?: string) {
    super(
      'ERR_INVALID_REDIS_URL',
      problem
        ? `${source} names a database Redis does not have: ${redactUrl(url)} (${problem})`
        : `${source} is not a redis:// or rediss:// URL: ${redactUrl(url)} (expected redis://host[:port][/db], with user:password@ before the host if Redis needs them)`,
    );
    this.url = redactUrl(url);
    this.source = source;
  }
}

/**
 * A `--connection` URL of a scheme the command does not know, or one it cannot use. The message shows it with its
 * password hidden.
 */
export class InvalidConnectionUrlError extends JobIterationError {
  /** The URL with its password redacted. */
  readonly url: string;
  readonly source: string;
  constructor(url: string, source: string, problem?: string) {
    super(
      'ERR_INVALID_CONNECTION_URL',
      problem
        ? `${source} cannot be used: ${redactUrl(url)} (${problem})`
        : `${source} is not a redis://, rediss://, postgres:// or postgresql:// URL: ${redactUrl(url)} ` +
            '(expected redis://host[:port][/db] or postgres://host[:port]/database[?schema=name], with user:password@ before the host if needed)',
    );
    this.url = redactUrl(url);
    this.source = source;
  }
}

/** PostgreSQL did not answer after the given number of attempts. */
export class PostgresUnreachableError extends JobIterationError {
  /** The URL with its password redacted. */
  readonly url: string;
  readonly source: string;
  constructor(url: string, source: string, attempts: number, cause: unknown) {
    const why = redactUrls(String((cause as Error)?.message ?? cause));
    super('ERR_POSTGRES_UNREACHABLE', `cannot reach PostgreSQL at ${redactUrl(url)} (from ${source}) after ${attempts} attempts: ${why}`);
    this.url = redactUrl(url);
    this.source = source;
  }
}

/**
 * PostgreSQL refused the login (a wrong password, an unknown role, no `pg_hba.conf` entry) or has no such database.
 * Retrying cannot help, so it is reported at once.
 */
export class PostgresAuthError extends JobIterationError {
  readonly url: string;
  readonly source: string;
  constructor(url: string, source: string, reply: string) {
    super(
      'ERR_POSTGRES_AUTH',
      `PostgreSQL at ${redactUrl(url)} (from ${source}) refused the connection (${redactUrls(reply).replace(/\.$/, '')}); ` +
        `check the user name, password and database in ${source}.`,
    );
    this.url = redactUrl(url);
    this.source = source;
  }
}

/**
 * BullMQ's schema is missing from the database (or older than this BullMQ). Looking at a queue never creates it;
 * `job-iteration migrate` (or `work --migrate`) does.
 */
export class SchemaNotMigratedError extends JobIterationError {
  readonly url: string;
  readonly schema: string;
  constructor(url: string, schema: string, detail: string) {
    super(
      'ERR_SCHEMA_NOT_MIGRATED',
      `PostgreSQL at ${redactUrl(url)} has no up-to-date BullMQ schema "${schema}" (${redactUrls(detail)}); ` +
        'create it with: job-iteration migrate --connection <url> (or work --migrate)',
    );
    this.url = redactUrl(url);
    this.schema = schema;
  }
}

/** Redis did not answer a ping after the given number of attempts. */
export class RedisUnreachableError extends JobIterationError {
  /** The URL with its password redacted. */
  readonly url: string;
  readonly source: string;
  constructor(url: string, source: string, attempts: number, cause: unknown) {
    const why = redactUrls(String((cause as Error)?.message ?? cause));
    super('ERR_REDIS_UNREACHABLE', `cannot reach Redis at ${redactUrl(url)} (from ${source}) after ${attempts} attempts: ${why}`);
    this.url = redactUrl(url);
    this.source = source;
  }
}

/**
 * Redis refused this client's credentials (`WRONGPASS`: wrong user name or password; `NOAUTH`: a password is
 * required and none was given). Retrying cannot help, so it is reported at once, naming where the URL came from.
 */
export class RedisAuthError extends JobIterationError {
  /** The URL with its password redacted. */
  readonly url: string;
  /** Where the URL came from, e.g. `--redis` or `REDIS_URL`. */
  readonly source: string;
  constructor(url: string, source: string, reply: string) {
    super(
      'ERR_REDIS_AUTH',
      `Redis at ${redactUrl(url)} (from ${source}) refused the credentials (${redactUrls(reply).replace(/\.$/, '')}); ` +
        `check the user name and password in ${source}.`,
    );
    this.url = redactUrl(url);
    this.source = source;
  }
}

/** A job module could not be found or imported, exports no job, or two of its jobs share a name. */
export class JobModuleError extends JobIterationError {
  /** The module as it was named. */
  readonly module: string;
  constructor(module: string, message: string, options?: { cause?: unknown }) {
    super('ERR_JOB_MODULE', message, options);
    this.module = module;
  }
}
