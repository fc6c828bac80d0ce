import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 8, the audit log: one row per admin change the registry makes (models,
 * versions, aliases, keys), written in the change's own transaction, so a change and
 * its entry exist together or not at all. `model_id` is not a foreign key: the entries
 * of a model outlive it.
 */
export class AuditLog1796428800000 implements MigrationInterface {
  name = 'AuditLog1796428800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        actor text,
        action text NOT NULL,
        model_id text,
        version integer,
        details jsonb NOT NULL DEFAULT '{}'::jsonb
      )`);
    await q.query(
      `CREATE INDEX audit_log_model ON audit_log (model_id, id) WHERE model_id IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_log`);
  }
}
