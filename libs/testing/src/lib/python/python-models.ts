import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * PyTorch and scikit-learn fixtures: real models built by the real frameworks (Debian's
 * python3-torch, python3-sklearn, python3-joblib), with fixed seeds, and the same models
 * run by the frameworks directly, to check a backend's outputs against.
 */

/** The interpreter the fixtures use (not PORTFOLIO_RUNTIME_PYTHON: tests point that elsewhere). */
export const FIXTURE_PYTHON = '/usr/bin/python3';

/** Runs `source` with `input` as JSON on stdin; returns what it prints on stdout, parsed. */
function runPython<T>(source: string, input: unknown): T {
  const result = spawnSync(FIXTURE_PYTHON, ['-c', source], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: 300_000,
  });
  if (result.error) throw result.error;
  if (result.status !== 0)
    throw new Error(
      `python fixture failed (${result.status ?? result.signal}): ${result.stderr.slice(-2000)}`,
    );
  return JSON.parse(result.stdout) as T;
}

const BUILD_SOURCE = String.raw`
import json, os, sys
args = json.load(sys.stdin)
what = args['what']
out = args['dir']
os.makedirs(out, exist_ok=True)
result = {}

if what in ('torchscript_mlp', 'torchscript_linear', 'state_dict'):
    import torch
    torch.manual_seed(args.get('seed', 0))

if what == 'torchscript_mlp':
    sizes = [args['inputSize']] + args['hidden'] + [args['outputSize']]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(torch.nn.ReLU())
    mlp = torch.nn.Sequential(*layers).eval()
    if args.get('trace'):
        module = torch.jit.trace(mlp, torch.zeros(1, sizes[0]))
    else:
        module = torch.jit.script(mlp)
    path = os.path.join(out, args['fileName'])
    torch.jit.save(module, path)
    result['path'] = path

if what == 'torchscript_linear':
    layer = torch.nn.Linear(args['inFeatures'], args['outFeatures']).eval()
    module = torch.jit.script(layer)
    path = os.path.join(out, args['fileName'])
    torch.jit.save(module, path)
    result['path'] = path

if what == 'state_dict':
    source = args['modelSource']
    with open(os.path.join(out, 'model.py'), 'w') as f:
        f.write(source)
    scope = {}
    exec(compile(source, 'model.py', 'exec'), scope)
    net = scope[args['className']](**args['kwargs'])
    path = os.path.join(out, args['fileName'])
    torch.save(net.state_dict(), path, _use_new_zipfile_serialization=not args.get('legacy'))
    if args.get('manifest'):
        with open(os.path.join(out, 'portfolio.json'), 'w') as f:
            json.dump({'class': args['className'], 'kwargs': args['kwargs']}, f)
    result['path'] = path

if what == 'sklearn':
    import joblib
    import numpy as np
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.svm import SVC
    rng = np.random.RandomState(args.get('seed', 0))
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    logistic = LogisticRegression(max_iter=500).fit(x, y)
    linear = LinearRegression().fit(x, x @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.25)
    svc = SVC(probability=False).fit(x, y)
    names = np.array(['setosa', 'versicolor', 'virginica'])[y]
    strings = LogisticRegression(max_iter=500).fit(x, names)
    result['logistic'] = os.path.join(out, 'logistic.joblib')
    joblib.dump(logistic, result['logistic'])
    result['linear'] = os.path.join(out, 'linear.pkl')
    joblib.dump(linear, result['linear'])
    result['svc'] = os.path.join(out, 'svc.joblib')
    joblib.dump(svc, result['svc'], compress=3)
    result['strings'] = os.path.join(out, 'strings.joblib')
    joblib.dump(strings, result['strings'])

print(json.dumps(result))
`;

export interface TorchScriptMlpOptions {
  inputSize?: number;
  hidden?: number[];
  outputSize?: number;
  seed?: number;
  /** torch.jit.trace instead of torch.jit.script. */
  trace?: boolean;
  /** Default 'mlp.pt'. */
  fileName?: string;
}

/** A TorchScript MLP (Linear+ReLU layers, seeded), saved with torch.jit.save; returns its path. */
export function buildTorchScriptMlp(
  dir: string,
  options: TorchScriptMlpOptions = {},
): string {
  return runPython<{ path: string }>(BUILD_SOURCE, {
    what: 'torchscript_mlp',
    dir: resolve(dir),
    inputSize: options.inputSize ?? 4,
    hidden: options.hidden ?? [8],
    outputSize: options.outputSize ?? 3,
    seed: options.seed ?? 0,
    trace: options.trace ?? false,
    fileName: options.fileName ?? 'mlp.pt',
  }).path;
}

/** A TorchScript Linear layer, `inFeatures * outFeatures * 4` bytes of weights; returns its path. */
export function buildTorchScriptLinear(
  dir: string,
  inFeatures: number,
  outFeatures: number,
  fileName = 'linear.pt',
): string {
  return runPython<{ path: string }>(BUILD_SOURCE, {
    what: 'torchscript_linear',
    dir: resolve(dir),
    inFeatures,
    outFeatures,
    fileName,
  }).path;
}

/** A model.py for buildTorchStateDict: `Net(hidden)` of two inputs, returning a tuple. */
export const STATE_DICT_MODEL_SOURCE = `import torch


class Net(torch.nn.Module):
    def __init__(self, hidden=6):
        super().__init__()
        self.encode = torch.nn.Linear(3, hidden)
        self.head = torch.nn.Linear(hidden, 2)

    def forward(self, features, scale):
        h = torch.relu(self.encode(features))
        return self.head(h) * scale, h.sum(dim=1)
`;

export interface StateDictOptions {
  /** model.py's source; default STATE_DICT_MODEL_SOURCE. */
  modelSource?: string;
  className?: string;
  kwargs?: Record<string, unknown>;
  /** Write portfolio.json naming the class and kwargs. Default true. */
  manifest?: boolean;
  /** torch.save's pre-1.6 pickle format instead of its zip. */
  legacy?: boolean;
  /** Default 'weights.pth'. */
  fileName?: string;
  seed?: number;
}

/** A state_dict (torch.save) with model.py (and portfolio.json) beside it, in `dir`; returns the weights' path. */
export function buildTorchStateDict(
  dir: string,
  options: StateDictOptions = {},
): string {
  mkdirSync(dir, { recursive: true });
  return runPython<{ path: string }>(BUILD_SOURCE, {
    what: 'state_dict',
    dir: resolve(dir),
    modelSource: options.modelSource ?? STATE_DICT_MODEL_SOURCE,
    className: options.className ?? 'Net',
    kwargs: options.kwargs ?? { hidden: 5 },
    manifest: options.manifest ?? true,
    legacy: options.legacy ?? false,
    fileName: options.fileName ?? 'weights.pth',
    seed: options.seed ?? 0,
  }).path;
}

export interface SklearnModels {
  /** LogisticRegression on 4 features, 3 integer classes: predict and predict_proba (joblib). */
  logistic: string;
  /** LinearRegression on 4 features: predict only (joblib, saved as .pkl). */
  linear: string;
  /** SVC without probability: predict only (joblib, zlib-compressed). */
  svc: string;
  /** LogisticRegression whose classes are strings ('setosa', ...). */
  strings: string;
}

/** Four fitted scikit-learn estimators (seeded data), saved with joblib into `dir`. */
export function buildSklearnModels(dir: string, seed = 0): SklearnModels {
  return runPython<SklearnModels>(BUILD_SOURCE, {
    what: 'sklearn',
    dir: resolve(dir),
    seed,
  });
}

const REFERENCE_SOURCE = String.raw`
import importlib.util, json, os, sys
import numpy as np
args = json.load(sys.stdin)
kind, path = args['kind'], args['path']
arrays = [np.array(t['data'], dtype=t['dtype']).reshape(t['shape']) for t in args['inputs']]

def emit(named):
    print(json.dumps({n: {'shape': list(np.shape(a)), 'data': np.asarray(a).reshape(-1).tolist()} for n, a in named}))

if kind == 'sklearn':
    import joblib
    est = joblib.load(path)
    out = [('label', est.predict(arrays[0]))]
    if hasattr(est, 'predict_proba'):
        out.append(('probabilities', est.predict_proba(arrays[0])))
    out = [(n, a.astype(str) if a.dtype.kind == 'O' else a) for n, a in out]
    emit(out)
else:
    import torch
    if kind == 'torchscript':
        model = torch.jit.load(path, map_location='cpu')
    else:
        folder = os.path.dirname(path)
        spec = importlib.util.spec_from_file_location('reference_model', os.path.join(folder, 'model.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with open(os.path.join(folder, 'portfolio.json')) as f:
            manifest = json.load(f)
        model = getattr(module, manifest['class'])(**manifest.get('kwargs', {}))
        model.load_state_dict(torch.load(path, map_location='cpu'))
    model.eval()
    with torch.inference_mode():
        result = model(*[torch.from_numpy(a) for a in arrays])
    if not isinstance(result, (tuple, list)):
        result = [result]
    emit([('output__%d' % i, r.numpy()) for i, r in enumerate(result)])
`;

/** One input of pythonReference: numpy's dtype name ('float32', 'int64', ...). */
export interface ReferenceInput {
  dtype: string;
  shape: number[];
  data: readonly (number | string)[];
}

export interface ReferenceOutput {
  shape: number[];
  data: (number | string)[];
}

/**
 * Runs a fixture model in Python directly (torch.jit.load, model.py + load_state_dict,
 * joblib.load) on `inputs` (positional, in order) and returns its outputs, named as the
 * Python backend names them: `output__0`, ... for PyTorch (state_dict models need
 * portfolio.json), `label` and `probabilities` for scikit-learn.
 */
export function pythonReference(
  kind: 'torchscript' | 'state_dict' | 'sklearn',
  path: string,
  inputs: readonly ReferenceInput[],
): Record<string, ReferenceOutput> {
  return runPython<Record<string, ReferenceOutput>>(REFERENCE_SOURCE, {
    kind,
    path: resolve(path),
    inputs,
  });
}

/** `<dir>/<name>`, created. */
export function fixtureDir(dir: string, name: string): string {
  const path = join(dir, name);
  mkdirSync(path, { recursive: true });
  return path;
}
