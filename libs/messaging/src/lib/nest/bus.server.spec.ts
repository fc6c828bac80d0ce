import {
  CallHandler,
  Catch,
  Controller,
  ExecutionContext,
  INestMicroservice,
  Injectable,
  Module,
  NestInterceptor,
} from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR } from '@nestjs/core';
import { Ctx, Payload } from '@nestjs/microservices';
import { Observable, tap, throwError } from 'rxjs';
import { z } from 'zod';

import {
  event,
  PortfolioError,
  serviceRpc,
  targetedRpc,
} from '@portfolio/contracts';

import { InProcessBus } from '../in-process.bus';
import { Messaging } from '../messaging';
import { MessagingModule } from '../messaging.module';
import { createBusApp } from './bus-app';
import { BusContext } from './bus.context';
import { BusEvent, BusRpc } from './bus-patterns';

const Add = serviceRpc(
  'calc.add.v1',
  'calc',
  z.object({ a: z.number(), b: z.number() }),
  z.object({ sum: z.number() }),
);
const Fail = serviceRpc(
  'calc.fail.v1',
  'calc',
  z.object({ how: z.enum(['coded', 'bug']) }),
  z.object({}),
);
const Whoami = targetedRpc(
  'calc',
  'whoami.v1',
  z.object({}),
  z.object({ node: z.string() }),
);
const Noted = event('calc.noted.v1', z.object({ note: z.string() }));

/** The token whose value names this app's instance for Whoami. */
const NODE_ID = Symbol('node id');

/** What the handlers saw, shared by one test's app. */
class Seen {
  readonly calls: string[] = [];
  readonly notes: { note: string; header: string | undefined }[] = [];
}

@Controller()
class CalcController {
  constructor(private readonly seen: Seen) {}

  @BusRpc(Add)
  add(@Payload() req: { a: number; b: number }): { sum: number } {
    this.seen.calls.push('add');
    return { sum: req.a + req.b };
  }

  @BusRpc(Fail)
  async fail(@Payload() req: { how: 'coded' | 'bug' }): Promise<object> {
    this.seen.calls.push('fail');
    if (req.how === 'coded')
      throw new PortfolioError('NOT_FOUND', 'model "x" is not registered');
    throw new TypeError('cannot read properties of undefined');
  }

  @BusRpc(Whoami, { target: NODE_ID })
  whoami(): { node: string } {
    return { node: 'answered' };
  }

  @BusEvent(Noted)
  noted(@Payload() e: { note: string }, @Ctx() ctx: BusContext): void {
    this.seen.notes.push({ note: e.note, header: ctx.getHeaders()['x-test'] });
  }
}

/** Every message, RPC or event, passes through the app's interceptors. */
@Injectable()
class PatternRecorder implements NestInterceptor {
  constructor(private readonly seen: Seen) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const pattern = context.switchToRpc().getContext<BusContext>().getPattern();
    return next
      .handle()
      .pipe(tap({ finalize: () => this.seen.calls.push(`after ${pattern}`) }));
  }
}

/** An app-wide filter meant for HTTP (as the standalone app has): bus handlers' own filter wins. */
@Catch()
class HttpOnlyFilter {
  catch(): Observable<never> {
    return throwError(() => new Error('the HTTP filter answered'));
  }
}

describe('BusServer (Nest microservice handlers over the bus)', () => {
  let bus: InProcessBus;
  let app: INestMicroservice;
  let m: Messaging;
  let seen: Seen;

  beforeEach(async () => {
    bus = new InProcessBus();
    seen = new Seen();
    @Module({
      imports: [
        MessagingModule.forRoot({ bus, prefix: 't', requestTimeoutMs: 2000 }),
      ],
      controllers: [CalcController],
      providers: [
        { provide: Seen, useValue: seen },
        { provide: NODE_ID, useValue: 'n1' },
        { provide: APP_INTERCEPTOR, useClass: PatternRecorder },
        { provide: APP_FILTER, useClass: HttpOnlyFilter },
      ],
    })
    class CalcModule {}
    app = await createBusApp(CalcModule, { logger: false });
    m = app.get(Messaging);
  });

  afterEach(async () => {
    await app?.close();
  });

  it('answers an RPC on its contract subject, through the interceptors', async () => {
    await expect(m.call(Add, { a: 2, b: 3 })).resolves.toEqual({ sum: 5 });
    expect(seen.calls).toEqual(['add', 'after calc.add.v1']);
  });

  it('refuses a request that does not match the contract before the handler runs', async () => {
    const e = await m
      .requestRaw('t.calc.add.v1', new TextEncoder().encode('{"a":"2"}'))
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(PortfolioError);
    expect((e as PortfolioError).code).toBe('INVALID_REQUEST');
    expect((e as PortfolioError).message).toMatch(/calc\.add\.v1: a: .*b:/);
    expect(seen.calls).toEqual([]);
  });

  it("answers a handler's PortfolioError with its code and message", async () => {
    const e = await m.call(Fail, { how: 'coded' }).catch((err: unknown) => err);
    expect(e).toMatchObject({
      code: 'NOT_FOUND',
      message: 'model "x" is not registered',
    });
  });

  it('maps any other error to INTERNAL (the exception filter)', async () => {
    const e = await m.call(Fail, { how: 'bug' }).catch((err: unknown) => err);
    expect(e).toMatchObject({
      code: 'INTERNAL',
      message: 'cannot read properties of undefined',
    });
  });

  it("answers a targeted RPC on its target's subject only", async () => {
    await expect(m.call(Whoami, {}, { target: 'n1' })).resolves.toEqual({
      node: 'answered',
    });
    await expect(m.call(Whoami, {}, { target: 'n2' })).rejects.toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
    });
  });

  it('hands events to their handler with the message (headers) as context', async () => {
    bus.publish(
      't.calc.noted.v1',
      new TextEncoder().encode('{"note":"hello"}'),
      { 'x-test': 'yes' },
    );
    m.emit(Noted, { note: 'again' });
    // A malformed event is dropped, never handed over.
    bus.publish('t.calc.noted.v1', new TextEncoder().encode('{"note":1}'));
    await new Promise((r) => setImmediate(r));
    expect(seen.notes).toEqual([
      { note: 'hello', header: 'yes' },
      { note: 'again', header: undefined },
    ]);
    expect(seen.calls).toEqual(['after calc.noted.v1', 'after calc.noted.v1']);
  });

  it('stops answering when the app closes', async () => {
    await app.close();
    await expect(m.call(Add, { a: 1, b: 1 })).rejects.toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
    });
  });

  it('refuses to start a targeted handler without its target', async () => {
    @Module({
      imports: [
        MessagingModule.forRoot({
          bus: new InProcessBus(),
          prefix: 't',
          requestTimeoutMs: 2000,
        }),
      ],
      controllers: [CalcController],
      providers: [{ provide: Seen, useValue: new Seen() }],
    })
    class Untargeted {}
    await expect(createBusApp(Untargeted, { logger: false })).rejects.toThrow(
      /calc\.<target>\.whoami\.v1 answers for the instance named by Symbol\(node id\), which no provider of this app gives/,
    );
  });
});
