import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { DB_GATE } from '../model-registry.service';
import { DbGate } from './db-gate';

/** Arbitrary, fixed: the advisory lock key under which registry instances migrate. */
const MIGRATION_LOCK_KEY = 7_340_111;

/**
 * Runs pending migrations when the service starts. Several registry instances may start
 * together against one database: a session-level advisory lock makes them take turns,
 * and the later ones find nothing left to do.
 *
 * On PGlite it then gathers the planner's statistics of the models: PGlite has no
 * autovacuum, and without them the planner guesses how many models a label filter
 * keeps. With 10,000 models, a page of those with a label most of them have took a
 * sequential scan and a sort of them all instead of a walk along the primary key, and
 * a rare label no index (`npm run bench:registry`). Every other query of the registry
 * finds its rows by a key, statistics or not.
 */
@Injectable()
export class RegistryMigrator implements OnModuleInit {
  private readonly logger = new Logger('RegistryMigrator');

  constructor(
    private readonly dataSource: DataSource,
    @Inject(DB_GATE) private readonly gate: DbGate,
  ) {}

  async onModuleInit(): Promise<void> {
    const lock = this.dataSource.createQueryRunner();
    await lock.connect();
    try {
      await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      const applied = await this.dataSource.runMigrations({
        transaction: 'each',
      });
      if (applied.length)
        this.logger.log(
          `applied migrations: ${applied.map((m) => m.name).join(', ')}`,
        );
      if (this.gate.serialize) await this.dataSource.query('ANALYZE models');
    } finally {
      await lock
        .query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
        .catch(() => undefined);
      await lock.release();
    }
  }
}
