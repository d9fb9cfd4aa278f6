// job-iteration/postgres: keyset enumerators over PostgreSQL tables. Needs `pg` (an optional peer dependency) only
// in the application, which hands in its own pool or client; this module imports nothing of it.
export { postgresRecords, postgresBatches } from './enumerators.js';
export type { PostgresRow } from './enumerators.js';
export { keyRanges } from './key-ranges.js';
export type { KeyRangesOptions } from './key-ranges.js';
export type { PostgresEnumeration } from './keyset-enumeration.js';
export type { PostgresEnumeratorOptions, PostgresCursor, PostgresKeyRange, PostgresKeyValue } from './options.js';
export type { PgQueryableLike } from './queryable.js';
export { UnknownTableError, UnknownColumnError, NullableKeyError } from './errors.js';
