import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram } from 'prom-client';

import {
  MetricsRegistry,
  REQUEST_SECONDS,
  SeriesCache,
} from '@portfolio/telemetry';

import { RoutingTableService } from '../routing/routing-table.service';

export type RetryReason = 'no_responders' | 'runtime_lost' | 'model_not_loaded';

interface HttpSeries {
  readonly requests: Counter.Internal;
  readonly duration: Histogram.Internal<'method' | 'route' | 'status'>;
}

/**
 * What this gateway sees (docs/metrics.md): HTTP and gRPC requests, hits and misses of
 * its predictions, retries, its requests in flight per runtime. Registered in the app's
 * MetricsRegistry, which `GET /metrics` renders: in the standalone app that registry
 * holds every service's metrics. Loads, evictions and the cluster's memory are the
 * cache-manager's and the runtimes' own metrics, not counted here.
 */
@Injectable()
export class GatewayMetrics implements OnModuleInit {
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  private readonly grpcRequests: Counter<'method' | 'code'>;
  private readonly grpcDuration: Histogram<'method' | 'code'>;
  private readonly hits: Counter<'model' | 'version'>;
  private readonly misses: Counter<'model' | 'version'>;
  private readonly retries: Counter<'reason'>;

  /** By `method route status` (bounded by the routes). */
  private readonly httpSeries = new SeriesCache<HttpSeries>();
  /** By `model@version`. */
  private readonly hitSeries = new SeriesCache<Counter.Internal>();

  constructor(
    readonly registry: MetricsRegistry,
    private readonly adapterHost: HttpAdapterHost,
    routing: RoutingTableService,
  ) {
    const registers = [registry];
    this.httpRequests = new Counter({
      name: 'portfolio_http_requests_total',
      help: 'HTTP requests answered by this gateway, by route template and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'portfolio_http_request_duration_seconds',
      help: 'Time from receiving an HTTP request to the end of its answer',
      labelNames: ['method', 'route', 'status'],
      buckets: REQUEST_SECONDS,
      registers,
    });
    this.grpcRequests = new Counter({
      name: 'portfolio_grpc_requests_total',
      help: 'gRPC calls answered by this gateway, by method and status code',
      labelNames: ['method', 'code'],
      registers,
    });
    this.grpcDuration = new Histogram({
      name: 'portfolio_grpc_request_duration_seconds',
      help: 'Time from receiving a gRPC call to its answer',
      labelNames: ['method', 'code'],
      buckets: REQUEST_SECONDS,
      registers,
    });
    this.hits = new Counter({
      name: 'portfolio_cache_hits_total',
      help: 'Predictions through this gateway that found their model loaded',
      labelNames: ['model', 'version'],
      registers,
    });
    this.misses = new Counter({
      name: 'portfolio_cache_misses_total',
      help: 'Predictions through this gateway that waited for their model to be loaded',
      labelNames: ['model', 'version'],
      registers,
    });
    this.retries = new Counter({
      name: 'portfolio_predict_retries_total',
      help: 'Predictions sent again to another runtime, by why the first one failed',
      labelNames: ['reason'],
      registers,
    });
    new Gauge({
      name: 'portfolio_gateway_in_flight_requests',
      help: "This gateway's predictions waiting on each runtime",
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const [node, n] of routing.inFlightByNode()) this.set({ node }, n);
      },
    });
  }

  /** Before the server is ready, so that the hook applies to every route. */
  onModuleInit(): void {
    const fastify =
      this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    // A callback hook, and each series' children kept: this runs for every request.
    fastify?.addHook('onResponse', (request, reply, done) => {
      // The route's template, not its URL: ids in paths would make endless series.
      const route = request.routeOptions.url ?? 'unmatched';
      const key = `${request.method} ${route} ${reply.statusCode}`;
      const series =
        this.httpSeries.get(key) ??
        this.httpSeries.add(
          key,
          this.makeHttpSeries(request.method, route, reply.statusCode),
        );
      series.requests.inc();
      series.duration.observe(reply.elapsedTime / 1000);
      done();
    });
  }

  /** A prediction found its model loaded (`loadedNow` false) or waited for a load. */
  countLookup(modelId: string, version: number, loadedNow: boolean): void {
    if (loadedNow) {
      this.misses.inc({ model: modelId, version: String(version) });
      return;
    }
    // Every prediction counts one: the series' child is kept rather than found by its labels.
    const key = `${modelId}@${version}`;
    (
      this.hitSeries.get(key) ??
      this.hitSeries.add(
        key,
        this.hits.labels({ model: modelId, version: String(version) }),
      )
    ).inc();
  }

  /** A gRPC call answered: its method, its status code's name (`OK`, `NOT_FOUND`, ...). */
  observeGrpc(method: string, code: string, seconds: number): void {
    const labels = { method, code };
    this.grpcRequests.inc(labels);
    this.grpcDuration.observe(labels, seconds);
  }

  countRetry(reason: RetryReason): void {
    this.retries.inc({ reason });
  }

  private makeHttpSeries(
    method: string,
    route: string,
    statusCode: number,
  ): HttpSeries {
    const labels = { method, route, status: String(statusCode) };
    return {
      requests: this.httpRequests.labels(labels),
      duration: this.httpDuration.labels(labels),
    };
  }
}
