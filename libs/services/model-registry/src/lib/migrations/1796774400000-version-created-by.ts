import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Who registered each version (an API key's name, `config`; null when unknown: auth
 * off, or registered before this migration). Written once, like the rest of a version.
 */
export class VersionCreatedBy1796774400000 implements MigrationInterface {
  name = 'VersionCreatedBy1796774400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE model_versions ADD COLUMN created_by text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE model_versions DROP COLUMN created_by`);
  }
}
