import type { EngineSettings, Processing } from '@portfolio/contracts';
import {
  Column,
  CreateDateColumn,
  Entity,
  PrimaryColumn,
  UpdateDateColumn,
} from 'typeorm';

import { bigintTransformer } from './bigint.transformer';

@Entity({ name: 'models' })
export class ModelEntity {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  @Column({ type: 'text' })
  format!: string;

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  @Column({
    name: 'memory_estimate_bytes',
    type: 'bigint',
    nullable: true,
    transformer: bigintTransformer,
  })
  memoryEstimateBytes!: number | null;

  /** The declared estimate wins over measurements; the database refuses it without one. */
  @Column({
    name: 'memory_estimate_authoritative',
    type: 'boolean',
    default: false,
  })
  memoryEstimateAuthoritative!: boolean;

  @Column({ type: 'boolean', default: false })
  preload!: boolean;

  @Column({ type: 'boolean', default: false })
  pinned!: boolean;

  @Column({
    name: 'ttl_ms',
    type: 'bigint',
    nullable: true,
    transformer: bigintTransformer,
  })
  ttlMs!: number | null;

  @Column({ type: 'jsonb', default: {} })
  labels!: Record<string, string>;

  /** Dynamic batching: the most rows one merged run takes; null: the runtime's default. */
  @Column({ name: 'max_batch_size', type: 'integer', nullable: true })
  maxBatchSize!: number | null;

  /** How long a run may wait for others to join it; null: the runtime's default. */
  @Column({
    name: 'max_queue_delay_ms',
    type: 'double precision',
    nullable: true,
  })
  maxQueueDelayMs!: number | null;

  /** How its framework is set up (EngineSettings); null: the runtimes' defaults. */
  @Column({ type: 'jsonb', nullable: true })
  engine!: EngineSettings | null;

  /** Its pre- and post-processing (Processing); null: none. */
  @Column({ type: 'jsonb', nullable: true })
  processing!: Processing | null;

  /** The highest version number it ever had: numbers are never reused after a delete. */
  @Column({ name: 'last_version', type: 'integer', default: 0 })
  lastVersion!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
