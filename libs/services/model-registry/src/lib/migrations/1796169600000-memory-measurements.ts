import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 6, the model cache: a declared memory estimate can be marked authoritative, and
 * the runtimes' measurements of each version outlive the cache-manager. Measurements
 * get a table of their own rather than columns on model_versions, whose rows are
 * immutable (its trigger stays as it is); they go with their version (ON DELETE CASCADE).
 * Existing models become non-authoritative, which keeps their behaviour.
 */
export class MemoryMeasurements1796169600000 implements MigrationInterface {
  name = 'MemoryMeasurements1796169600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE models
        ADD COLUMN memory_estimate_authoritative boolean NOT NULL DEFAULT false`);
    await q.query(`
      ALTER TABLE models
        ADD CONSTRAINT models_authoritative_estimate_declared
        CHECK (NOT memory_estimate_authoritative OR memory_estimate_bytes IS NOT NULL)`);
    await q.query(`
      CREATE TABLE version_measurements (
        model_id text NOT NULL,
        version integer NOT NULL,
        memory_bytes bigint NOT NULL CHECK (memory_bytes >= 0),
        load_ms double precision NOT NULL CHECK (load_ms >= 0),
        node_id text NOT NULL,
        measured_at timestamptz NOT NULL,
        PRIMARY KEY (model_id, version),
        FOREIGN KEY (model_id, version)
          REFERENCES model_versions (model_id, version) ON DELETE CASCADE
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE version_measurements`);
    await q.query(
      `ALTER TABLE models DROP CONSTRAINT models_authoritative_estimate_declared`,
    );
    await q.query(
      `ALTER TABLE models DROP COLUMN memory_estimate_authoritative`,
    );
  }
}
