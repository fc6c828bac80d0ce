import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Models and their immutable versions. Constraints repeat the API's validation on
 * purpose: whatever path writes here, the database refuses an invalid id, format or
 * hash, and any edit of a version other than its status.
 */
export class InitialSchema1764201600000 implements MigrationInterface {
  name = 'InitialSchema1764201600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE models (
        id text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9._-]{0,127}$'),
        format text NOT NULL CHECK (format IN ('onnx', 'tensorflow', 'pytorch', 'sklearn', 'huggingface', 'custom')),
        description text,
        memory_estimate_bytes bigint CHECK (memory_estimate_bytes >= 0),
        preload boolean NOT NULL DEFAULT false,
        pinned boolean NOT NULL DEFAULT false,
        ttl_ms bigint CHECK (ttl_ms > 0),
        labels jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE model_versions (
        model_id text NOT NULL REFERENCES models(id) ON DELETE RESTRICT,
        version integer NOT NULL CHECK (version > 0),
        format text NOT NULL,
        artifact_uri text NOT NULL,
        sha256 char(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
        signature jsonb NOT NULL,
        status text NOT NULL CHECK (status IN ('ready', 'failed')),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (model_id, version)
      )`);
    await q.query(
      `CREATE INDEX model_versions_by_sha256 ON model_versions (model_id, sha256)`,
    );
    await q.query(`
      CREATE FUNCTION model_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.model_id IS DISTINCT FROM OLD.model_id OR NEW.version IS DISTINCT FROM OLD.version
           OR NEW.format IS DISTINCT FROM OLD.format OR NEW.artifact_uri IS DISTINCT FROM OLD.artifact_uri
           OR NEW.sha256 IS DISTINCT FROM OLD.sha256 OR NEW.size_bytes IS DISTINCT FROM OLD.size_bytes
           OR NEW.signature IS DISTINCT FROM OLD.signature OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
          RAISE EXCEPTION 'model versions are immutable (model %, version %)', OLD.model_id, OLD.version;
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`
      CREATE TRIGGER model_versions_immutable BEFORE UPDATE ON model_versions
      FOR EACH ROW EXECUTE FUNCTION model_versions_immutable()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE model_versions`);
    await q.query(`DROP FUNCTION model_versions_immutable`);
    await q.query(`DROP TABLE models`);
  }
}
