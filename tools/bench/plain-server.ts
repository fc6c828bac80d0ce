/**
 * The baseline of `npm run bench:overhead`: the least a Node server can do to serve a
 * prediction. Fastify parses the JSON body, the single input becomes a Float32Array,
 * onnxruntime-node runs the model on the main thread, and the outputs go back as
 * nested JSON arrays. No validation beyond the shape, no bus, no worker thread.
 *
 *   node -r @swc-node/register tools/bench/plain-server.ts <model.onnx> <port>
 *
 * Prints `plain server ready` once it listens on 127.0.0.1:<port>. Serves
 * `POST /predict` with `{"inputs": [[...], ...]}` (a batch of rows of the model's one
 * float input) and answers `{"outputs": {"<name>": [[...], ...]}}`.
 */
import Fastify from 'fastify';
import * as ort from 'onnxruntime-node';

async function main(): Promise<void> {
  const [modelPath, portText] = process.argv.slice(2);
  if (!modelPath || !portText)
    throw new Error('usage: plain-server.ts <model.onnx> <port>');
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: 1,
  });
  const inputName = session.inputNames[0];
  const app = Fastify({ logger: false });
  app.post('/predict', async (request, reply) => {
    const rows = (request.body as { inputs?: unknown }).inputs;
    if (!Array.isArray(rows) || rows.length === 0 || !Array.isArray(rows[0]))
      return reply.code(400).send({ error: 'inputs must be [[...], ...]' });
    const width = (rows[0] as unknown[]).length;
    const data = new Float32Array(rows.length * width);
    rows.forEach((row: number[], i) => data.set(row, i * width));
    const result = await session.run({
      [inputName]: new ort.Tensor('float32', data, [rows.length, width]),
    });
    const outputs: Record<string, number[][]> = {};
    for (const [name, tensor] of Object.entries(result)) {
      const values = Array.from(tensor.data as Float32Array);
      const cols = Number(tensor.dims[tensor.dims.length - 1]);
      outputs[name] = Array.from({ length: values.length / cols }, (_, r) =>
        values.slice(r * cols, (r + 1) * cols),
      );
    }
    return { outputs };
  });
  await app.listen({ host: '127.0.0.1', port: Number(portText) });
  process.stdout.write('plain server ready\n');
  const stop = () => void app.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
