/**
 * The trial-load script: loads one artifact with its format's backend in a process of
 * its own, runs it once on zeros where its signature allows, releases it and prints
 * what happened (TrialReply) as its last line. Ingest runs it (see trialLoad) so that a
 * version is registered only once it is known to load; a framework that crashes, hangs
 * or takes all the memory takes only this process with it. Built as its own entry point
 * (`trial-load.js`) next to the main.js of each app that ingests artifacts.
 */
import { isPortfolioError } from '@portfolio/contracts';

import { createBackend } from '../backends';
import { warmupInputs } from '../warmup.util';
import type { TrialReply, TrialRequest } from './trial-protocol';

async function trial(request: TrialRequest): Promise<TrialReply> {
  const backend = createBackend(request.format);
  await backend.warmUp();
  const model = await backend.load(request.path, { intraOpThreads: 1 });
  try {
    const inputs = warmupInputs(model.signature, 1);
    // Zeros are not valid input for every model (two variable dimensions that must
    // agree, say): a run that fails does not make the artifact invalid, a load does.
    const ran = inputs
      ? await model.run(inputs).then(
          () => true,
          () => false,
        )
      : false;
    return { ok: true, signature: model.signature, ran };
  } finally {
    await model.release();
  }
}

function reply(r: TrialReply): void {
  process.stdout.write(`\n${JSON.stringify(r)}\n`, () => process.exit(0));
}

void (async () => {
  try {
    const request = JSON.parse(process.argv[2] ?? '') as TrialRequest;
    reply(await trial(request));
  } catch (e) {
    reply({
      ok: false,
      code: isPortfolioError(e) ? e.code : 'MODEL_LOAD_FAILED',
      message: e instanceof Error ? e.message : String(e),
    });
  }
})();
