import { LoadedModelReport } from '@portfolio/contracts';
import {
  DEFAULT_LOAD_PEAK_FACTOR,
  ModelFacts,
  PolicyParams,
  recordRequests,
  Usage,
} from '@portfolio/placement';

interface Counters {
  requests: number;
  busyMs: number;
  atMs: number;
}

/** Busy share is smoothed over about this long: long enough to ignore one slow batch. */
const UTILIZATION_WINDOW_MS = 20_000;

/**
 * What the cache-manager knows of each model's demand, from the runtimes' reports:
 * request counters and busy time are cumulative per (runtime, model), so each report's
 * increase is what happened since the one before. Usage outlives unloads: it is what
 * makes the policy remember a model it evicted.
 *
 * After a restart the cache-manager knows no history; each model a runtime reports is
 * seeded with its requests since it was loaded, spread evenly over that time, so the
 * first decisions are informed rather than blind.
 */
export class UsageTracker {
  private readonly usage = new Map<string, Usage>();
  private readonly counters = new Map<string, Counters>();
  /** Smoothed busy share of each copy: model key -> node -> share. */
  private readonly shares = new Map<
    string,
    Map<string, { value: number; atMs: number }>
  >();
  private readonly measured = new Map<
    string,
    { bytes: number; loadMs: number | null }
  >();

  private readonly peakRatios = new Map<string, number>();

  constructor(private readonly params: PolicyParams) {}

  /** Applies one runtime's report of one model. */
  observe(
    nodeId: string,
    report: LoadedModelReport,
    nowMs: number,
    runtimeStartedAt: string,
  ): void {
    const k = `${report.model_id}@${report.version}`;
    const counterKey = `${nodeId}\u0000${runtimeStartedAt}\u0000${k}`;
    const before = this.counters.get(counterKey);
    this.counters.set(counterKey, {
      requests: report.requests,
      busyMs: report.busy_ms,
      atMs: nowMs,
    });
    if (report.state === 'loaded' && report.memory_bytes > 0)
      this.measured.set(k, {
        bytes: report.memory_bytes,
        loadMs: report.load_ms,
      });
    if (!before) {
      // Requests this runtime served before we saw its counter (since the load, or
      // before this cache-manager started): spread over that time.
      if (report.requests > 0) this.seed(k, report, nowMs);
      return;
    }
    // A counter that went down belongs to a model loaded anew: count from zero.
    const requests =
      report.requests >= before.requests
        ? report.requests - before.requests
        : report.requests;
    if (requests > 0)
      this.usage.set(
        k,
        recordRequests(this.usage.get(k), nowMs, this.params, requests),
      );
    const busy =
      report.busy_ms >= before.busyMs
        ? report.busy_ms - before.busyMs
        : report.busy_ms;
    const elapsed = nowMs - before.atMs;
    if (elapsed > 0) this.addBusy(nodeId, k, busy / elapsed, elapsed, nowMs);
  }

  /** A miss: the request that triggered a load counts before the runtime ever reports it. */
  recordMiss(k: string, nowMs: number): void {
    this.usage.set(k, recordRequests(this.usage.get(k), nowMs, this.params));
  }

  /** Forgets the counters of a runtime that is gone (not the usage: that is the model's). */
  forgetRuntime(nodeId: string): void {
    for (const counterKey of this.counters.keys())
      if (counterKey.startsWith(`${nodeId}\u0000`))
        this.counters.delete(counterKey);
    for (const copies of this.shares.values()) copies.delete(nodeId);
  }

  /**
   * Room a load of the model needs while it runs: its measured peak over its steady
   * size once a load reported one, else DEFAULT_LOAD_PEAK_FACTOR, times `bytes`.
   */
  loadPeak(k: string, bytes: number): number {
    return Math.ceil(
      bytes * (this.peakRatios.get(k) ?? DEFAULT_LOAD_PEAK_FACTOR),
    );
  }

  recordPeak(k: string, steadyBytes: number, peakBytes: number): void {
    if (steadyBytes > 0 && peakBytes > 0)
      this.peakRatios.set(k, Math.max(1, peakBytes / steadyBytes));
  }

  recordMeasured(k: string, bytes: number, loadMs: number | null): void {
    this.measured.set(k, {
      bytes,
      loadMs: loadMs ?? this.measured.get(k)?.loadMs ?? null,
    });
  }

  measuredBytes(k: string): number | null {
    return this.measured.get(k)?.bytes ?? null;
  }

  facts(k: string): ModelFacts | undefined {
    const usage = this.usage.get(k);
    const m = this.measured.get(k);
    if (!usage && !m) return undefined;
    return { usage, loadMs: m?.loadMs ?? null, bytes: m?.bytes ?? null };
  }

  /**
   * Busy workers across all copies of the model (1.5: one and a half workers' time),
   * smoothed; copies not reported lately do not count. Undefined when nothing is known.
   */
  busyWorkers(k: string, nowMs: number): number | undefined {
    const copies = this.shares.get(k);
    if (!copies) return undefined;
    let total = 0;
    let known = false;
    for (const [nodeId, s] of copies) {
      if (nowMs - s.atMs > 3 * UTILIZATION_WINDOW_MS) copies.delete(nodeId);
      else {
        total += s.value;
        known = true;
      }
    }
    return known ? total : undefined;
  }

  /** Models with usage, for predictive preloading. */
  knownKeys(): string[] {
    return [...this.usage.keys()];
  }

  private seed(k: string, report: LoadedModelReport, nowMs: number): void {
    const since = report.loaded_at ? Date.parse(report.loaded_at) : nowMs;
    const spanMs = Math.max(1000, nowMs - since);
    const steps = Math.min(60, report.requests);
    let u = this.usage.get(k);
    for (let i = 1; i <= steps; i++)
      u = recordRequests(
        u,
        nowMs - spanMs + (spanMs * i) / steps,
        this.params,
        report.requests / steps,
      );
    if (u) this.usage.set(k, u);
  }

  private addBusy(
    nodeId: string,
    k: string,
    share: number,
    elapsedMs: number,
    nowMs: number,
  ): void {
    const copies =
      this.shares.get(k) ?? new Map<string, { value: number; atMs: number }>();
    this.shares.set(k, copies);
    const prev = copies.get(nodeId);
    const weight = Math.min(1, elapsedMs / UTILIZATION_WINDOW_MS);
    copies.set(nodeId, {
      value: prev ? prev.value + weight * (share - prev.value) : share,
      atMs: nowMs,
    });
  }
}
