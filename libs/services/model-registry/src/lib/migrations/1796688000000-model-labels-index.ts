import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 8, the registry at scale: listing models by label (`labels @> ...`, see
 * listModels) read every model without an index: a sequential scan of all 10,000 models
 * of `npm run bench:registry` for each page, and all of them for a label no model has.
 * A GIN index answers containment; `jsonb_path_ops` is the smaller kind, for `@>` only,
 * which is all the registry asks of labels. Without `fastupdate`: new entries go into
 * the index itself, not into a pending list that every search reads until a vacuum
 * empties it, and PGlite (the standalone mode) has no autovacuum. Models are registered
 * rarely; they are listed often.
 */
export class ModelLabelsIndex1796688000000 implements MigrationInterface {
  name = 'ModelLabelsIndex1796688000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX models_labels ON models USING gin (labels jsonb_path_ops)
         WITH (fastupdate = off)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX models_labels`);
  }
}
