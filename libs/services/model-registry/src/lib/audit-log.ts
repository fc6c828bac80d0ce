import { EntityManager } from 'typeorm';

import type { AuditAction, AuditEntry } from '@portfolio/contracts';

/** One admin change, written with `manager` (inside the change's transaction). */
export async function recordAudit(
  manager: EntityManager,
  entry: {
    actor: string | null | undefined;
    action: AuditAction;
    model_id?: string;
    version?: number;
    details?: Record<string, unknown>;
  },
): Promise<void> {
  await manager.query(
    `INSERT INTO audit_log (actor, action, model_id, version, details)
     VALUES ($1, $2, $3, $4, $5::jsonb)`,
    [
      entry.actor ?? null,
      entry.action,
      entry.model_id ?? null,
      entry.version ?? null,
      JSON.stringify(entry.details ?? {}),
    ],
  );
}

/** Newest first: at most `limit` entries with an id below `before`, of one model if given. */
export async function readAudit(
  manager: EntityManager,
  req: { limit: number; before?: number; model_id?: string },
): Promise<{ entries: AuditEntry[]; next: number | null }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (req.before !== undefined) {
    params.push(req.before);
    where.push(`id < $${params.length}`);
  }
  if (req.model_id !== undefined) {
    params.push(req.model_id);
    where.push(`model_id = $${params.length}`);
  }
  params.push(req.limit + 1);
  const rows: {
    id: string | number;
    at: Date | string;
    actor: string | null;
    action: AuditAction;
    model_id: string | null;
    version: number | null;
    details: Record<string, unknown> | string;
  }[] = await manager.query(
    `SELECT id, at, actor, action, model_id, version, details FROM audit_log
     ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY id DESC LIMIT $${params.length}`,
    params,
  );
  const page = rows.slice(0, req.limit);
  return {
    entries: page.map((r) => ({
      id: Number(r.id),
      at: new Date(r.at).toISOString(),
      actor: r.actor,
      action: r.action,
      model_id: r.model_id,
      version: r.version === null ? null : Number(r.version),
      details:
        typeof r.details === 'string' ? JSON.parse(r.details) : r.details,
    })),
    next: rows.length > req.limit ? Number(page[page.length - 1].id) : null,
  };
}
