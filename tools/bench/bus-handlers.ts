/**
 * What a bus handler costs, by the way it is written: the same tiny request answered
 * by a raw subscription (the inference path's kind: bytes in, bytes out), by
 * Messaging.serve (JSON decoded and checked against the contract's schema), and by a
 * Nest controller's @BusRpc handler through BusServer (the control plane's kind: the
 * same, plus Nest's pipeline of guards, interceptors and filters around the handler),
 * with and without one app-wide interceptor. Over the in-process bus (the standalone
 * mode) and NATS (the distributed mode: PORTFOLIO_NATS_URL, else nats://127.0.0.1:4222;
 * skipped when no server answers).
 *
 *   npm run bench:bus-handlers               # the table
 *   npm run bench:bus-handlers -- --write    # also records it in docs/benchmarks.md
 *   npm run bench:bus-handlers -- --n 20000  # requests per measurement (default 10,000)
 *
 * Latency: one request at a time, median and 99th percentile. Throughput: 64 requests
 * in flight from the same process, so each figure includes the caller's side too.
 */
import {
  CallHandler,
  Controller,
  ExecutionContext,
  Injectable,
  INestMicroservice,
  Module,
  NestInterceptor,
} from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { Payload } from '@nestjs/microservices';
import { performance } from 'node:perf_hooks';
import { Observable } from 'rxjs';
import { z } from 'zod';

import { serviceRpc } from '@portfolio/contracts';
import {
  BusRpc,
  createBusApp,
  InProcessBus,
  MessageBus,
  Messaging,
  MessagingModule,
  NatsBus,
} from '@portfolio/messaging';

import {
  benchOptions,
  machineLine,
  markdownTable,
  recordSection,
} from './bench-report';

const Echo = serviceRpc(
  'bench.echo.v1',
  'bench',
  z.object({ model_id: z.string(), version: z.number().int() }),
  z.object({ model_id: z.string(), version: z.number().int() }),
);
const RAW_SUBJECT = 'bench.raw.v1';

@Controller()
class EchoController {
  @BusRpc(Echo)
  echo(@Payload() req: { model_id: string; version: number }): {
    model_id: string;
    version: number;
  } {
    return req;
  }
}

/** As a metrics interceptor would be: a clock read either side of the handler. */
@Injectable()
class TimingInterceptor implements NestInterceptor {
  total = 0;
  intercept(_: ExecutionContext, next: CallHandler): Observable<unknown> {
    const t0 = performance.now();
    return new Observable((subscriber) =>
      next.handle().subscribe({
        next: (v) => subscriber.next(v),
        error: (e: unknown) => subscriber.error(e),
        complete: () => {
          this.total += performance.now() - t0;
          subscriber.complete();
        },
      }),
    );
  }
}

interface Row {
  bus: string;
  handler: string;
  p50Us: number;
  p99Us: number;
  perSecond: number;
}

async function measure(
  n: number,
  call: () => Promise<unknown>,
): Promise<{ p50Us: number; p99Us: number; perSecond: number }> {
  for (let i = 0; i < Math.min(2000, n / 5); i++) await call();
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    samples[i] = (performance.now() - t0) * 1000;
  }
  samples.sort();
  const inFlight = 64;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next++ < n) await call();
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return {
    p50Us: samples[Math.floor(n * 0.5)],
    p99Us: samples[Math.floor(n * 0.99)],
    perSecond: n / seconds,
  };
}

async function startNest(
  bus: MessageBus,
  prefix: string,
  interceptor: boolean,
): Promise<INestMicroservice> {
  @Module({
    imports: [
      MessagingModule.forRoot({ bus, prefix, requestTimeoutMs: 10_000 }),
    ],
    controllers: [EchoController],
    providers: interceptor
      ? [{ provide: APP_INTERCEPTOR, useClass: TimingInterceptor }]
      : [],
  })
  class EchoModule {}
  return createBusApp(EchoModule, { logger: ['error'] });
}

async function runOn(
  busName: string,
  makeBus: () => Promise<MessageBus>,
  n: number,
): Promise<Row[]> {
  const rows: Row[] = [];
  const prefix = `bench-bus-${process.pid}`;
  const request = { model_id: 'iris', version: 3 };
  const add = async (
    handler: string,
    start: (bus: MessageBus) => Promise<() => Promise<void>>,
    call: (m: Messaging) => Promise<unknown>,
  ) => {
    const bus = await makeBus();
    const stop = await start(bus);
    const client = new Messaging(bus, prefix, 10_000);
    try {
      rows.push({
        bus: busName,
        handler,
        ...(await measure(n, () => call(client))),
      });
    } finally {
      await stop();
      await bus.close();
    }
  };
  const rawBody = new TextEncoder().encode(JSON.stringify(request));

  await add(
    'raw subscription (serveRaw)',
    async (bus) => {
      const m = new Messaging(bus, prefix, 10_000);
      const sub = m.serveRaw(`${prefix}.${RAW_SUBJECT}`, (msg) => ({
        data: msg.data,
      }));
      return async () => sub.unsubscribe();
    },
    (m) => m.requestRaw(`${prefix}.${RAW_SUBJECT}`, rawBody),
  );
  await add(
    'Messaging.serve (JSON + schema)',
    async (bus) => {
      const m = new Messaging(bus, prefix, 10_000);
      const sub = m.serve(Echo, (req) => req);
      return async () => sub.unsubscribe();
    },
    (m) => m.call(Echo, request),
  );
  for (const interceptor of [false, true]) {
    await add(
      interceptor ? 'Nest @BusRpc + 1 interceptor' : 'Nest @BusRpc (BusServer)',
      async (bus) => {
        const app = await startNest(bus, prefix, interceptor);
        return () => app.close();
      },
      (m) => m.call(Echo, request),
    );
  }
  return rows;
}

async function natsAnswers(url: string): Promise<boolean> {
  try {
    const bus = await NatsBus.connect({ url, name: 'bench-probe' });
    await bus.close();
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const options = benchOptions();
  const n = Number(options.values.get('n') ?? 10_000);
  const natsUrl = process.env['PORTFOLIO_NATS_URL'] ?? 'nats://127.0.0.1:4222';
  const rows = await runOn('in-process', async () => new InProcessBus(), n);
  const nats = await natsAnswers(natsUrl);
  if (nats)
    rows.push(
      ...(await runOn(
        'NATS',
        () => NatsBus.connect({ url: natsUrl, name: 'bench-bus-handlers' }),
        n,
      )),
    );
  else process.stderr.write(`no NATS at ${natsUrl}: in-process only\n`);

  const table = markdownTable(
    ['bus', 'handler', 'p50 (us)', 'p99 (us)', 'req/s, 64 in flight'],
    rows.map((r) => [
      r.bus,
      r.handler,
      r.p50Us.toFixed(1),
      r.p99Us.toFixed(1),
      Math.round(r.perSecond).toLocaleString('en-US'),
    ]),
    [false, false, true, true, true],
  );
  process.stdout.write(`\n${table}\n\n`);
  if (options.write) {
    const body = `The same request (\`{"model_id":"iris","version":3}\`, echoed back) answered four ways, caller and handler in one process; ${n.toLocaleString('en-US')} requests one at a time for the percentiles, then ${n.toLocaleString('en-US')} with 64 in flight for the rate. NATS: ${nats ? natsUrl : 'no server answered; not measured'}. ${machineLine()}\n\n${table}`;
    process.stdout.write(
      `recorded in ${recordSection('bus-handlers', 'npm run bench:bus-handlers -- --write', body)}\n`,
    );
  }
  process.exit(0);
}

void main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
