import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A model's engine settings (threads, ONNX Runtime's graph optimization, memory arena
 * and execution provider), as the admin API and the configuration file take them.
 * null: the runtimes' defaults.
 */
export class ModelEngine1796947200000 implements MigrationInterface {
  name = 'ModelEngine1796947200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE models ADD COLUMN engine jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE models DROP COLUMN engine`);
  }
}
