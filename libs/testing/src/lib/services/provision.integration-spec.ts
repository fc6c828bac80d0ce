import { connect, NatsConnection, StringCodec } from 'nats';
import { Client } from 'pg';
import { freePort } from './free-port';
import { provisionServices } from './provision';
import { createTestDatabase, TestDatabase } from './test-database';
import { testNatsUrl, testPgUrl } from './env';
import { uniqueSubjectPrefix } from './unique-subject-prefix';

describe('test services of this run', () => {
  describe('PostgreSQL', () => {
    let db: TestDatabase;
    let client: Client;

    beforeAll(async () => {
      db = await createTestDatabase('provision spec');
      client = new Client({ connectionString: db.url });
      await client.connect();
    });
    afterAll(async () => {
      await client?.end();
      await db?.drop();
    });

    it('gives each test a database of its own, named after the label', async () => {
      expect(db.name).toMatch(/^portfolio_test_provision_spec_[0-9a-f]{8}$/);
      const { rows } = await client.query<{ name: string }>(
        'SELECT current_database() AS name',
      );
      expect(rows[0].name).toBe(db.name);
    });

    it('creates a table, inserts and selects', async () => {
      await client.query(
        'CREATE TABLE models (id serial PRIMARY KEY, name text NOT NULL, size_bytes bigint NOT NULL)',
      );
      await client.query(
        'INSERT INTO models (name, size_bytes) VALUES ($1, $2), ($3, $4)',
        ['iris', 1234, 'mlp', 5678],
      );
      const { rows } = await client.query<{ name: string; size_bytes: string }>(
        'SELECT name, size_bytes FROM models ORDER BY id',
      );
      expect(rows).toEqual([
        { name: 'iris', size_bytes: '1234' },
        { name: 'mlp', size_bytes: '5678' },
      ]);
    });

    it('drop() removes the database even while a connection is open', async () => {
      const other = await createTestDatabase('dropped');
      const holder = new Client({ connectionString: other.url });
      holder.on('error', () => undefined); // its connection is terminated by drop()
      await holder.connect();
      await other.drop();
      await holder.end().catch(() => undefined);
      const admin = new Client({ connectionString: testPgUrl() });
      await admin.connect();
      try {
        const { rowCount } = await admin.query(
          'SELECT 1 FROM pg_database WHERE datname = $1',
          [other.name],
        );
        expect(rowCount).toBe(0);
      } finally {
        await admin.end();
      }
    });
  });

  describe('NATS', () => {
    let nc: NatsConnection;
    beforeAll(async () => (nc = await connect({ servers: testNatsUrl() })));
    afterAll(async () => nc?.close());

    it('round-trips a request/reply on a unique subject prefix', async () => {
      const prefix = uniqueSubjectPrefix('provision');
      const codec = StringCodec();
      const subscription = nc.subscribe(`${prefix}.echo`, {
        callback: (error, msg) => {
          if (!error)
            msg.respond(codec.encode(`echo:${codec.decode(msg.data)}`));
        },
      });
      try {
        const reply = await nc.request(`${prefix}.echo`, codec.encode('ping'), {
          timeout: 5_000,
        });
        expect(codec.decode(reply.data)).toBe('echo:ping');
      } finally {
        subscription.unsubscribe();
      }
    });
  });

  describe('provisionServices', () => {
    it('uses servers named by the environment as they are and stops nothing of theirs', async () => {
      const services = await provisionServices({
        PORTFOLIO_DATABASE_URL: testPgUrl(),
        PORTFOLIO_NATS_URL: testNatsUrl(),
      });
      expect(services).toMatchObject({
        pgUrl: testPgUrl(),
        natsUrl: testNatsUrl(),
        started: { postgres: false, nats: false },
      });
      await services.stop();
      const nc = await connect({ servers: testNatsUrl() });
      await nc.close();
    });

    it('fails fast, with the password hidden, when a named server is unreachable', async () => {
      const closedPort = await freePort();
      await expect(
        provisionServices({
          PORTFOLIO_DATABASE_URL: `postgres://postgres:hunter2@127.0.0.1:${closedPort}/postgres`,
          PORTFOLIO_NATS_URL: testNatsUrl(),
        }),
      ).rejects.toThrow(
        `PORTFOLIO_DATABASE_URL (postgres://postgres:***@127.0.0.1:${closedPort}/postgres) is not usable`,
      );
    });
  });
});
