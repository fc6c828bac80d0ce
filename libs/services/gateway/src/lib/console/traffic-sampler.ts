import {
  Injectable,
  OnApplicationBootstrap,
  OnModuleDestroy,
  OnModuleInit,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';

import { GatewayMetrics } from '../metrics/gateway-metrics';
import { Ring } from './ring';

/** How often this gateway closes a sample of its traffic. */
export const SAMPLE_INTERVAL_MS = 5_000;
/** Samples kept: ten minutes. */
export const SAMPLES_KEPT = 120;

/** The routes whose answers are predictions (their latency is what the console draws). */
export const PREDICTION_ROUTES: ReadonlySet<string> = new Set([
  '/v1/models/:modelId/predict',
  '/v2/models/:name/infer',
  '/v2/models/:name/versions/:version/infer',
]);

/**
 * Durations in milliseconds, counted in buckets that grow by 5% from 10 µs to an hour
 * (405 counters, whatever the traffic): a percentile read from it is at most 5% above
 * the true one, and recording costs a logarithm.
 */
export class LatencyHistogram {
  static readonly MIN_MS = 0.01;
  static readonly GROWTH = 1.05;
  private static readonly LOG_GROWTH = Math.log(LatencyHistogram.GROWTH);
  static readonly BUCKETS =
    Math.ceil(Math.log(3_600_000 / 0.01) / Math.log(1.05)) + 1;

  private readonly counts = new Uint32Array(LatencyHistogram.BUCKETS);
  private n = 0;
  private max = 0;

  get count(): number {
    return this.n;
  }

  record(ms: number): void {
    if (!(ms >= 0)) return;
    const i =
      ms <= LatencyHistogram.MIN_MS
        ? 0
        : Math.min(
            LatencyHistogram.BUCKETS - 1,
            Math.ceil(
              Math.log(ms / LatencyHistogram.MIN_MS) /
                LatencyHistogram.LOG_GROWTH,
            ),
          );
    this.counts[i]++;
    this.n++;
    if (ms > this.max) this.max = ms;
  }

  /**
   * The `q` quantile (0 < q <= 1): the upper bound of the bucket that holds it, never
   * more than the largest duration recorded (which it is, past an hour); null when
   * nothing was recorded.
   */
  quantile(q: number): number | null {
    if (this.n === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      // The last bucket also holds everything past an hour: its bound says nothing.
      if (seen >= rank)
        return i === this.counts.length - 1
          ? this.max
          : Math.min(
              LatencyHistogram.MIN_MS * LatencyHistogram.GROWTH ** i,
              this.max,
            );
    }
    return this.max;
  }

  reset(): void {
    this.counts.fill(0);
    this.n = 0;
    this.max = 0;
  }
}

/** One interval of this gateway's traffic (`GET /v1/stats`). */
export interface TrafficSample {
  /** When the interval ended. */
  readonly at: string;
  readonly interval_ms: number;
  /** HTTP requests answered. */
  readonly requests: number;
  /** Predictions answered over HTTP (`/v1` predict, `/v2` infer), and those with a 5xx. */
  readonly predictions: number;
  readonly errors: number;
  /** Percentiles of the predictions' time to answer; null without predictions. */
  readonly latency_ms: { p50: number; p95: number; p99: number } | null;
  /** Predictions (any protocol) that found their model loaded, and that waited for a load. */
  readonly hits: number;
  readonly misses: number;
  /** hits / (hits + misses); null without either. */
  readonly hit_ratio: number | null;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/**
 * This gateway's recent traffic for the web console's sparklines: every SAMPLE_INTERVAL_MS
 * it closes a sample (requests, predictions and their latency percentiles, hits and
 * misses) into a ring of SAMPLES_KEPT. Requests are counted by an `onResponse` hook;
 * hits and misses are read from the Prometheus counters `portfolio_cache_hits_total` and
 * `portfolio_cache_misses_total`, as differences between samples. Bounded whatever the
 * traffic: one histogram of fixed size for the interval in progress, and the ring.
 */
@Injectable()
export class TrafficSampler
  implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy
{
  private readonly samples = new Ring<TrafficSample>(SAMPLES_KEPT);
  private readonly latency = new LatencyHistogram();
  private requests = 0;
  private predictions = 0;
  private errors = 0;
  private lookups = { hits: 0, misses: 0 };
  private started = Date.now();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly metrics: GatewayMetrics,
  ) {}

  onModuleInit(): void {
    const fastify =
      this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    // A callback hook (every request runs it): a few increments and, for predictions, a log.
    fastify?.addHook('onResponse', (request, reply, done) => {
      this.record(
        request.routeOptions.url,
        reply.statusCode,
        reply.elapsedTime,
      );
      done();
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.lookups = await this.readLookups();
    this.started = Date.now();
    this.timer = setInterval(() => void this.sample(), SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One answered request: its route template (undefined when none matched), status, time. */
  record(route: string | undefined, status: number, ms: number): void {
    this.requests++;
    if (route === undefined || !PREDICTION_ROUTES.has(route)) return;
    this.predictions++;
    if (status >= 500) this.errors++;
    this.latency.record(ms);
  }

  /** Closes the interval in progress into a sample (the timer calls it). */
  async sample(now = Date.now()): Promise<TrafficSample> {
    const lookups = await this.readLookups();
    const hits = Math.max(0, lookups.hits - this.lookups.hits);
    const misses = Math.max(0, lookups.misses - this.lookups.misses);
    this.lookups = lookups;
    const q = (p: number) => round(this.latency.quantile(p) ?? 0);
    const sample: TrafficSample = {
      at: new Date(now).toISOString(),
      interval_ms: Math.max(0, now - this.started),
      requests: this.requests,
      predictions: this.predictions,
      errors: this.errors,
      latency_ms:
        this.latency.count === 0
          ? null
          : { p50: q(0.5), p95: q(0.95), p99: q(0.99) },
      hits,
      misses,
      hit_ratio: hits + misses === 0 ? null : hits / (hits + misses),
    };
    this.samples.push(sample);
    this.started = now;
    this.requests = 0;
    this.predictions = 0;
    this.errors = 0;
    this.latency.reset();
    return sample;
  }

  /** The samples kept, oldest first. */
  recent(): TrafficSample[] {
    return this.samples.toArray();
  }

  private async readLookups(): Promise<{ hits: number; misses: number }> {
    const [hits, misses] = await Promise.all([
      this.total('portfolio_cache_hits_total'),
      this.total('portfolio_cache_misses_total'),
    ]);
    return { hits, misses };
  }

  /** A counter's value summed over its series (0 when it is not registered). */
  private async total(name: string): Promise<number> {
    const metric = this.metrics.registry.getSingleMetric(name);
    if (!metric) return 0;
    const { values } = await metric.get();
    let sum = 0;
    for (const v of values) sum += v.value;
    return sum;
  }
}
