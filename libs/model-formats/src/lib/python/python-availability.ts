import { execFile } from 'node:child_process';
import { basename } from 'node:path';

import { PortfolioError } from '@portfolio/contracts';

/** The formats served by the Python worker. */
export type PythonFormat = 'pytorch' | 'sklearn';

/** The interpreter the Python formats run under: PORTFOLIO_RUNTIME_PYTHON, or Debian's. */
export function pythonInterpreter(): string {
  return process.env['PORTFOLIO_RUNTIME_PYTHON'] || '/usr/bin/python3';
}

const NEEDS: Record<
  PythonFormat,
  { modules: string[]; sentence: string; frameworks: string[] }
> = {
  pytorch: {
    modules: ['numpy', 'torch'],
    frameworks: ['torch'],
    sentence:
      'format pytorch needs Python 3 with PyTorch: install python3-torch (apt-get install python3-torch), or set PORTFOLIO_RUNTIME_PYTHON to an interpreter that has torch and numpy',
  },
  sklearn: {
    modules: ['numpy', 'sklearn', 'joblib', 'threadpoolctl'],
    frameworks: ['sklearn'],
    sentence:
      'format sklearn needs Python 3 with scikit-learn and joblib: install python3-sklearn and python3-joblib (apt-get install python3-sklearn python3-joblib), or set PORTFOLIO_RUNTIME_PYTHON to an interpreter that has them',
  },
};

/** The frameworks the worker imports for a format (its ping's `frameworks`). */
export function frameworksOf(format: PythonFormat): string[] {
  return NEEDS[format].frameworks;
}

/** Per interpreter and format: null when usable, else why not. Probed once per process. */
const probes = new Map<string, Promise<string | null>>();

function probe(python: string, modules: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(
      python,
      ['-c', `import ${modules.join(', ')}`],
      { timeout: 120_000, windowsHide: true },
      (error, _stdout, stderr) => {
        if (!error) return resolve(null);
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EACCES')
          return resolve(
            `${basename(python)} was not found or is not executable`,
          );
        const lastLine = String(stderr).trim().split('\n').pop() ?? '';
        const missing = /No module named '([^']+)'/.exec(lastLine);
        resolve(
          missing
            ? `${basename(python)} has no module ${missing[1]}`
            : `${basename(python)} failed to import ${modules.join(', ')}: ${lastLine.slice(0, 200) || error.message}`,
        );
      },
    );
  });
}

/**
 * Throws FORMAT_UNAVAILABLE, naming the package to install, when this machine's Python
 * lacks what `format` needs. The probe (`python3 -c 'import torch'`, about a second)
 * runs once per interpreter and format in a process.
 */
export async function assertPythonFormatAvailable(
  format: PythonFormat,
): Promise<void> {
  const python = pythonInterpreter();
  const key = `${python}\0${format}`;
  let result = probes.get(key);
  if (!result) {
    result = probe(python, NEEDS[format].modules);
    probes.set(key, result);
  }
  const reason = await result;
  if (reason !== null)
    throw new PortfolioError(
      'FORMAT_UNAVAILABLE',
      `${NEEDS[format].sentence} (${reason})`,
    );
}
