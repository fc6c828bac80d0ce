import type { FormatModule } from '../format-module';
import { theOnly } from '../format-paths';
import { inspectSklearnArtifact } from './python-artifacts';
import { assertPythonFormatAvailable } from './python-availability';
import { PythonBackend } from './python.backend';

const SKLEARN_EXTENSIONS = ['.joblib', '.pkl', '.pickle'];

/**
 * scikit-learn: one estimator (or pipeline) saved with joblib.dump (compressed or not)
 * or pickle.dump. Run by the Python worker: `predict` gives the `label` output,
 * `predict_proba` the `probabilities` output where the estimator has it.
 *
 * SECURITY: loading a pickle runs the code it names, whatever it claims to hold:
 * ingest only looks at its bytes, but a runtime that loads it runs its author's code
 * with the runtime's rights. Accept these from trusted publishers only.
 */
export const sklearnFormat: FormatModule = {
  format: 'sklearn',
  entryPoint: (paths) =>
    theOnly(
      paths,
      (p) => SKLEARN_EXTENSIONS.some((ext) => p.toLowerCase().endsWith(ext)),
      '.joblib, .pkl or .pickle file',
      '.joblib, .pkl or .pickle files',
    ),
  inspect: async (path) => {
    await assertPythonFormatAvailable('sklearn');
    return {
      format: 'sklearn',
      signature: { inputs: [], outputs: [] },
      metadata: inspectSklearnArtifact(path),
    };
  },
  createBackend: () => new PythonBackend('sklearn'),
};
