import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 7, scoped API keys: the registry keeps each key's SHA-256 (never the key), its
 * scopes and optional rate limit. Revoked keys stay (revoked_at) so that listings and
 * audits can still name them; a hash is unique across all of them.
 */
export class ApiKeys1796256000000 implements MigrationInterface {
  name = 'ApiKeys1796256000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        prefix text NOT NULL,
        key_sha256 text NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
        scopes text[] NOT NULL
          CHECK (cardinality(scopes) > 0
                 AND scopes <@ ARRAY['predict', 'read', 'admin']::text[]),
        rate_limit_rps double precision CHECK (rate_limit_rps > 0),
        rate_limit_burst integer CHECK (rate_limit_burst > 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text,
        revoked_at timestamptz,
        CHECK ((rate_limit_rps IS NULL) = (rate_limit_burst IS NULL))
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE api_keys`);
  }
}
