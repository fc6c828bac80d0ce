import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** An API key's record: its hash, never the key (see ApiKeyRecordSchema). */
@Entity({ name: 'api_keys' })
export class ApiKeyEntity {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ type: 'text' })
  prefix!: string;

  @Column({ name: 'key_sha256', type: 'text' })
  keySha256!: string;

  @Column({ type: 'text', array: true })
  scopes!: string[];

  @Column({ name: 'rate_limit_rps', type: 'double precision', nullable: true })
  rateLimitRps!: number | null;

  @Column({ name: 'rate_limit_burst', type: 'integer', nullable: true })
  rateLimitBurst!: number | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'created_by', type: 'text', nullable: true })
  createdBy!: string | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;
}
