/**
 * An inference worker thread. Model frameworks block their thread while they load and
 * run; here that blocks only this worker, never the runtime's event loop (heartbeats,
 * NATS, other models). The pool gives each copy of a model a worker of its own, which
 * serializes its runs. Built as its own entry point (`inference-worker.js`) next to
 * each app's main.
 */
import { parentPort } from 'node:worker_threads';

import { errorMessage, InferenceEngine } from './inference-engine';
import { WorkerReady, WorkerRequest } from './worker-protocol';
import { transferList } from './transfer.util';

const port = parentPort;
if (!port) throw new Error('inference.worker must run in a worker thread');

const engine = new InferenceEngine();

// Fixed costs first, then the first message: `ready` tells the pool this worker's
// memory baseline is set (see ModelBackend.warmUp).
void engine.warmUp().then(
  () => port.postMessage({ ready: true } satisfies WorkerReady),
  (e: unknown) =>
    port.postMessage({
      ready: false,
      error: errorMessage(e),
    } satisfies WorkerReady),
);

port.on('message', (request: WorkerRequest) => {
  void engine
    .reply(request)
    .then((reply) =>
      port.postMessage(
        reply,
        reply.ok && reply.op === 'run' ? transferList(reply.outputs) : [],
      ),
    );
});
