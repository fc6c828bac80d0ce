import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 8, aliases: a model's named pointers at its versions (`production`, `staging`,
 * any name). A version an alias points at cannot be deleted (RESTRICT); an alias goes
 * with its model. `updated_by` names who moved it last.
 */
export class Aliases1796342400000 implements MigrationInterface {
  name = 'Aliases1796342400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE model_aliases (
        model_id text NOT NULL REFERENCES models (id) ON DELETE CASCADE,
        alias text NOT NULL CHECK (alias ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
        version integer NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        updated_by text,
        PRIMARY KEY (model_id, alias),
        FOREIGN KEY (model_id, version)
          REFERENCES model_versions (model_id, version) ON DELETE RESTRICT
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE model_aliases`);
  }
}
