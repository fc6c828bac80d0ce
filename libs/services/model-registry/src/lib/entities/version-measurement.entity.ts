import { Column, Entity, PrimaryColumn } from 'typeorm';

import { bigintTransformer } from './bigint.transformer';

/**
 * The latest memory measurement of one version (`registry.version.measured.v1`),
 * written over by each newer one. Goes with its version (ON DELETE CASCADE).
 */
@Entity({ name: 'version_measurements' })
export class VersionMeasurementEntity {
  @PrimaryColumn({ name: 'model_id', type: 'text' })
  modelId!: string;

  @PrimaryColumn({ type: 'integer' })
  version!: number;

  @Column({
    name: 'memory_bytes',
    type: 'bigint',
    transformer: bigintTransformer,
  })
  memoryBytes!: number;

  @Column({ name: 'load_ms', type: 'double precision' })
  loadMs!: number;

  @Column({ name: 'node_id', type: 'text' })
  nodeId!: string;

  @Column({ name: 'measured_at', type: 'timestamptz' })
  measuredAt!: Date;
}
