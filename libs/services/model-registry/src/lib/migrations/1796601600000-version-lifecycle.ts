import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 8, deleting and deprecating versions. `deprecated` joins the statuses, and each
 * model counts the versions it has ever had (`last_version`), so that a number freed by
 * a deletion is never given to other bytes: a client that pinned version 3 must never
 * get a different model under that number.
 */
export class VersionLifecycle1796601600000 implements MigrationInterface {
  name = 'VersionLifecycle1796601600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE model_versions DROP CONSTRAINT model_versions_status_check`,
    );
    await q.query(`
      ALTER TABLE model_versions ADD CONSTRAINT model_versions_status_check
        CHECK (status IN ('ready', 'failed', 'deprecated'))`);
    await q.query(`
      ALTER TABLE models ADD COLUMN last_version integer NOT NULL DEFAULT 0
        CHECK (last_version >= 0)`);
    await q.query(`
      UPDATE models m SET last_version = COALESCE(
        (SELECT max(v.version) FROM model_versions v WHERE v.model_id = m.id), 0)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE models DROP COLUMN last_version`);
    await q.query(
      `ALTER TABLE model_versions DROP CONSTRAINT model_versions_status_check`,
    );
    await q.query(`
      ALTER TABLE model_versions ADD CONSTRAINT model_versions_status_check
        CHECK (status IN ('ready', 'failed'))`);
  }
}
