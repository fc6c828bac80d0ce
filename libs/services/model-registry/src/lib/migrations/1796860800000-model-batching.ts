import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Dynamic batching per model: the most rows one merged run of it takes, and how long a
 * run may wait for others to join it. null: the runtime's defaults
 * (runtime.max_batch_size, runtime.max_queue_delay).
 */
export class ModelBatching1796860800000 implements MigrationInterface {
  name = 'ModelBatching1796860800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE models
        ADD COLUMN max_batch_size integer
          CHECK (max_batch_size BETWEEN 1 AND 65536),
        ADD COLUMN max_queue_delay_ms double precision
          CHECK (max_queue_delay_ms >= 0 AND max_queue_delay_ms <= 10000)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE models DROP COLUMN max_batch_size, DROP COLUMN max_queue_delay_ms`,
    );
  }
}
