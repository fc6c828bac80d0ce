import { LoadedModel, LoadOptions, ModelBackend } from '../model-backend';
import { pytorchKindOf } from './python-artifacts';
import {
  assertPythonFormatAvailable,
  frameworksOf,
  PythonFormat,
} from './python-availability';
import { sharedPythonWorker } from './python-worker';

/**
 * The backend of a Python format: models run in this thread's Python worker process
 * (see python-worker.ts), which holds their memory; each LoadedModel reports it as
 * `externalBytes` (the worker's RSS delta around the load, after garbage collection).
 *
 * Signatures: a scikit-learn model declares its input (`input`, FP64 [-1, features];
 * FP32 is accepted too) and its outputs (`label` from predict, `probabilities` from
 * predict_proba where the estimator has it), with datatypes taken from a prediction on
 * a row of zeros at load. A PyTorch module declares only its arguments' names
 * (`forward`'s, else Triton's `input__0`, `input__1`, ...) and, for TorchScript, how
 * many tensors it returns (`output__0`, ...): their datatypes and ranks are unknown
 * until it runs, so the signature says FP32 with an empty shape ("not declared"), and
 * a run takes whatever datatype the caller sends.
 *
 * SECURITY: PyTorch state_dicts come with model.py, which the worker imports; joblib
 * and pickle files run the code their pickle names when they are loaded (a TorchScript
 * archive's data.pkl is read by TorchScript's restricted unpickler, but its code/ is
 * still a program). Loading one of these artifacts runs its author's code with the
 * runtime's rights: accept them from trusted publishers only.
 */
export class PythonBackend implements ModelBackend {
  readonly eager = false;

  constructor(readonly format: PythonFormat) {}

  async warmUp(): Promise<void> {
    await assertPythonFormatAvailable(this.format);
    await sharedPythonWorker().warmUp(frameworksOf(this.format));
  }

  async load(path: string, options: LoadOptions): Promise<LoadedModel> {
    await assertPythonFormatAvailable(this.format);
    const kind = this.format === 'sklearn' ? 'sklearn' : pytorchKindOf(path);
    return sharedPythonWorker().load(
      kind,
      path,
      Math.max(1, Math.floor(options.intraOpThreads)),
    );
  }
}
