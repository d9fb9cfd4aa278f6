import assert from 'node:assert/strict';
import { test } from 'node:test';
import { placeholdersIn } from '../../src/postgres/placeholders.js';

const found = (sql: string) => [...placeholdersIn(sql)].sort((a, b) => a - b);

test('placeholders in SQL: $n outside literals, quoted names, comments and dollar quotes', () => {
  assert.deepEqual(found('a = $1 AND b > $2'), [1, 2]);
  assert.deepEqual(found('a=$10 OR b=$2::int OR c = ANY($3)'), [2, 3, 10]);
  assert.deepEqual(found("note <> 'costs $5' AND id = $1"), [1]);
  assert.deepEqual(found("note <> 'it''s $5' AND id = $1"), [1]);
  assert.deepEqual(found("note <> E'\\' $7' AND id = $1"), [1]);
  assert.deepEqual(found('"col$3" = $1'), [1]);
  assert.deepEqual(found('id = $1 -- not $2\n AND k = $3'), [1, 3]);
  assert.deepEqual(found('id = $1 /* not $2 /* nested $4 */ still not $5 */ AND k = $3'), [1, 3]);
  assert.deepEqual(found('body = $$ $2 $$ AND tag = $t$ $4 $t$ AND id = $1'), [1]);
  assert.deepEqual(found('price$1 = 2'), [], 'part of a name, not a placeholder');
  assert.deepEqual(found("unterminated 'literal $1"), []);
});
