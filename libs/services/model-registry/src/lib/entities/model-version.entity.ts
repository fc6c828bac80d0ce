import {
  Column,
  CreateDateColumn,
  Entity,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
} from 'typeorm';

import type { Signature, VersionStatus } from '@portfolio/contracts';

import { bigintTransformer } from './bigint.transformer';
import { ModelEntity } from './model.entity';

/** Immutable once written: a database trigger refuses changes to anything but `status`. */
@Entity({ name: 'model_versions' })
export class ModelVersionEntity {
  @PrimaryColumn({ name: 'model_id', type: 'text' })
  modelId!: string;

  @PrimaryColumn({ type: 'integer' })
  version!: number;

  @ManyToOne(() => ModelEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'model_id' })
  model?: ModelEntity;

  @Column({ type: 'text' })
  format!: string;

  @Column({ name: 'artifact_uri', type: 'text' })
  artifactUri!: string;

  @Column({ type: 'char', length: 64 })
  sha256!: string;

  @Column({
    name: 'size_bytes',
    type: 'bigint',
    transformer: bigintTransformer,
  })
  sizeBytes!: number;

  @Column({ type: 'jsonb' })
  signature!: Signature;

  @Column({ type: 'text' })
  status!: VersionStatus;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  /** Who registered it: an API key's name, `config`; null when unknown. */
  @Column({ name: 'created_by', type: 'text', nullable: true })
  createdBy!: string | null;
}
