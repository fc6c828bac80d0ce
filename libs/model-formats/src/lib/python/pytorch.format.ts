import { posix } from 'node:path';

import type { FormatModule } from '../format-module';
import { theOnly } from '../format-paths';
import {
  inspectPytorchArtifact,
  pytorchKindOf,
  STATE_DICT_MODULE,
} from './python-artifacts';
import { assertPythonFormatAvailable } from './python-availability';
import { PythonBackend } from './python.backend';

const PYTORCH_EXTENSIONS = ['.pt', '.pth', '.pts', '.torchscript'];

const isPytorchFile = (p: string) =>
  PYTORCH_EXTENSIONS.some((ext) => p.toLowerCase().endsWith(ext));

/**
 * PyTorch: a TorchScript archive (torch.jit.save), or a state_dict (torch.save of
 * `model.state_dict()`) with the model.py defining its class beside it (and optionally
 * portfolio.json: `{"class": "Net", "kwargs": {...}}`, where model.py defines several
 * nn.Module classes or the class takes arguments). Run by the Python worker.
 *
 * SECURITY: a state_dict upload's model.py is imported, so it runs with the runtime's
 * rights; TorchScript archives hold a program too. Accept these from trusted publishers
 * only (see PythonBackend).
 */
export const pytorchFormat: FormatModule = {
  format: 'pytorch',
  entryPoint: (paths) => {
    const candidates = paths.filter(isPytorchFile);
    if (candidates.length > 1) {
      // A state_dict upload: the weights file beside model.py.
      const besideModule = candidates.filter((p) =>
        paths.includes(posix.join(posix.dirname(p), STATE_DICT_MODULE)),
      );
      if (besideModule.length === 1) return besideModule[0];
    }
    return theOnly(
      paths,
      isPytorchFile,
      '.pt, .pth, .pts or .torchscript file',
      '.pt, .pth, .pts or .torchscript files',
    );
  },
  inspect: async (path, beside) => {
    await assertPythonFormatAvailable('pytorch');
    return {
      format: 'pytorch',
      signature: { inputs: [], outputs: [] },
      metadata: inspectPytorchArtifact(path, beside),
    };
  },
  createBackend: () => new PythonBackend('pytorch'),
  // torch.jit.save and torch.save write zips; one with a single `<root>/data.pkl` is
  // the model itself, not an archive of an upload's files.
  isWholeArtifact: (path) => {
    try {
      pytorchKindOf(path);
      return true;
    } catch {
      return false;
    }
  },
};
