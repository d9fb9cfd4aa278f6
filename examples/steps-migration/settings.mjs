// What the seed script and the job share: where the database is, and which table they work on.
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The table name, checked: it is written into SQL statements, so only plain lower-case names are accepted. */
export function tableName(name = 'example_members') {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`table must be a plain lower-case name; got ${JSON.stringify(name)}`);
  return name;
}
