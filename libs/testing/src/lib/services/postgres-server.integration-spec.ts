import { existsSync } from 'node:fs';
import { Client } from 'pg';

import { startThrowawayPostgres, ThrowawayPostgres } from './postgres-server';

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe(startThrowawayPostgres.name, () => {
  let pg: ThrowawayPostgres;

  beforeAll(async () => {
    pg = await startThrowawayPostgres();
  }, 120_000);
  afterAll(() => pg?.stop());

  it('refuses connections while halted and serves the same data once resumed', async () => {
    await query(
      pg.url,
      'CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)',
    );

    await pg.halt();

    await expect(query(pg.url, 'SELECT 1')).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });

    await pg.resume();

    expect(await query(pg.url, 'SELECT v FROM kept')).toEqual([{ v: 7 }]);
  });

  it('stops a halted server for good, removing its directory', async () => {
    const other = await startThrowawayPostgres();
    await other.halt();

    await other.stop();

    expect(existsSync(other.dir)).toBe(false);
  }, 120_000);
});
