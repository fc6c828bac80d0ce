import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** Arbitrary, fixed: the advisory lock key under which registry instances migrate. */
const MIGRATION_LOCK_KEY = 7_340_111;

/**
 * Runs pending migrations when the service starts. Several registry instances may start
 * together against one database: a session-level advisory lock makes them take turns,
 * and the later ones find nothing left to do.
 */
@Injectable()
export class RegistryMigrator implements OnModuleInit {
  private readonly logger = new Logger('RegistryMigrator');

  constructor(private readonly dataSource: DataSource) {}

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
    } finally {
      await lock
        .query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
        .catch(() => undefined);
      await lock.release();
    }
  }
}
