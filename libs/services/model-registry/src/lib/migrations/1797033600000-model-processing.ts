import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A model's pre- and post-processing (input normalization, class labels of outputs),
 * as the admin API and the configuration file take it. null: none.
 */
export class ModelProcessing1797033600000 implements MigrationInterface {
  name = 'ModelProcessing1797033600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE models ADD COLUMN processing jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE models DROP COLUMN processing`);
  }
}
