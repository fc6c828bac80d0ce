/**
 * The source of the Python worker process (see python-worker.ts), kept in the TypeScript
 * build so that nothing outside it has to be installed: the bridge runs it with
 * `python3 -u -c <source>`.
 *
 * Protocol, both ways: frames of a 4-byte big-endian length, that many bytes of a JSON
 * header, then the raw bytes of the header's tensors, in order. Each tensor of a header
 * is `{name, datatype, shape, bytes}` (little-endian row-major storage, `bytes` long),
 * or `{name, datatype: "BYTES", shape, strings}` with its elements in the header and no
 * raw bytes. Requests carry an `id` that their reply repeats; replies are `{id, ok: true,
 * ...}` or `{id, ok: false, error, input}` (`input`: the caller's tensors were refused).
 * Ops: `ping` (imports the named frameworks), `load` {kind, path, threads} -> {handle,
 * signature, rss_delta}, `run` {handle, tensors, outputs?} -> {tensors}, `unload`
 * {handle} -> {rss}. Any Python exception becomes an error reply: the worker only ends
 * when its stdin does (or when it is killed).
 *
 * The fds 0 and 1 belong to the protocol: model code that prints writes to stderr, and
 * model code that reads stdin reads /dev/null.
 *
 * No backquotes nor dollar-brace in the Python below (it lives in a template literal).
 */
export const PYTHON_WORKER_SOURCE = String.raw`
import gc
import json
import os
import re
import struct
import sys
import traceback

_IN = os.fdopen(os.dup(0), 'rb')
_OUT = os.fdopen(os.dup(1), 'wb')
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)
os.close(_devnull)
os.dup2(2, 1)
sys.stdout = sys.stderr

np = None
torch = None

DTYPES = {
    'BOOL': '|b1', 'UINT8': '|u1', 'UINT16': '<u2', 'UINT32': '<u4', 'UINT64': '<u8',
    'INT8': '|i1', 'INT16': '<i2', 'INT32': '<i4', 'INT64': '<i8',
    'FP16': '<f2', 'FP32': '<f4', 'FP64': '<f8',
}
IDENTIFIER = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


class InputError(Exception):
    """The caller's tensors do not fit the model."""


class LoadError(Exception):
    """The artifact cannot become a model; the message says why."""


def import_numpy():
    global np
    if np is None:
        import numpy
        np = numpy
    return np


def import_torch():
    global torch
    if torch is None:
        import_numpy()
        import torch as t
        try:
            t.set_num_interop_threads(1)
        except RuntimeError:
            pass
        # First-op costs (allocator, thread pool), so that they are not measured as a model's.
        (t.ones(4, 4) @ t.ones(4, 4)).sum().item()
        torch = t
    return torch


def import_sklearn():
    import_numpy()
    import joblib
    import sklearn
    import threadpoolctl
    # The estimators' modules most models need: importing them is the framework's cost,
    # not the first model's (loads are measured as RSS deltas).
    for name in ('sklearn.linear_model', 'sklearn.svm', 'sklearn.tree', 'sklearn.ensemble',
                 'sklearn.pipeline', 'sklearn.preprocessing', 'sklearn.neighbors'):
        try:
            __import__(name)
        except Exception:
            pass
    return joblib


FRAMEWORKS = {'torch': import_torch, 'sklearn': import_sklearn, 'numpy': import_numpy}


def rss_bytes():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    return 0


_libc = None


def settle():
    """Collects garbage and hands freed heap pages back to the OS, so that RSS tells."""
    global _libc
    gc.collect()
    try:
        if _libc is None:
            import ctypes
            _libc = ctypes.CDLL('libc.so.6')
        _libc.malloc_trim(0)
    except Exception:
        _libc = False


def read_exact(n):
    data = _IN.read(n)
    if data is None or len(data) < n:
        return None
    return data


def read_frame():
    head = read_exact(4)
    if head is None:
        return None, None
    (length,) = struct.unpack('>I', head)
    raw = read_exact(length)
    if raw is None:
        return None, None
    header = json.loads(raw.decode('utf-8'))
    total = sum(int(t.get('bytes', 0)) for t in header.get('tensors', ()))
    payload = bytearray(total)
    view = memoryview(payload)
    got = 0
    while got < total:
        n = _IN.readinto(view[got:])
        if not n:
            return None, None
        got += n
    return header, payload


def write_frame(header, blobs=()):
    raw = json.dumps(header, separators=(',', ':')).encode('utf-8')
    _OUT.write(struct.pack('>I', len(raw)))
    _OUT.write(raw)
    for blob in blobs:
        _OUT.write(blob)
    _OUT.flush()


def datatype_of(arr):
    dt = arr.dtype
    if dt.kind == 'b':
        return 'BOOL'
    if dt.kind in 'OUS':
        return 'BYTES'
    if dt.kind in 'iuf':
        name = {'i': 'INT', 'u': 'UINT', 'f': 'FP'}[dt.kind] + str(dt.itemsize * 8)
        if name in DTYPES:
            return name
    raise InputError('outputs of numpy type %s have no Open Inference Protocol datatype' % dt)


def decode_tensors(header, payload):
    import_numpy()
    out = {}
    offset = 0
    for t in header.get('tensors', ()):
        shape = [int(d) for d in t['shape']]
        if t['datatype'] == 'BYTES':
            arr = np.empty(len(t['strings']), dtype=object)
            arr[:] = t['strings']
            arr = arr.reshape(shape)
        else:
            dtype = np.dtype(DTYPES[t['datatype']])
            nbytes = int(t['bytes'])
            count = nbytes // dtype.itemsize
            if count == 0:
                arr = np.zeros(shape, dtype=dtype)
            else:
                arr = np.frombuffer(payload, dtype=dtype, count=count, offset=offset).reshape(shape)
            offset += nbytes
        out[t['name']] = arr
    return out


def encode_tensors(named):
    specs = []
    blobs = []
    for name, value in named:
        arr = np.asarray(value)
        datatype = datatype_of(arr)
        shape = [int(d) for d in arr.shape]
        if datatype == 'BYTES':
            strings = [v.decode('utf-8', 'replace') if isinstance(v, bytes) else str(v)
                       for v in arr.reshape(-1).tolist()]
            specs.append({'name': name, 'datatype': datatype, 'shape': shape, 'strings': strings})
        else:
            arr = np.ascontiguousarray(arr, dtype=np.dtype(DTYPES[datatype])).reshape(-1)
            blob = memoryview(arr.view(np.uint8))
            specs.append({'name': name, 'datatype': datatype, 'shape': shape, 'bytes': blob.nbytes})
            blobs.append(blob)
    return specs, blobs


def to_torch(name, arr):
    if arr.dtype.kind in 'OUS':
        raise InputError('input "%s" is BYTES: PyTorch models take numeric tensors only' % name)
    if arr.dtype.kind == 'u' and arr.dtype.itemsize > 1:
        raise InputError('input "%s" is %s: PyTorch has no unsigned type wider than 8 bits'
                         % (name, datatype_of(arr)))
    return torch.from_numpy(arr)


def from_torch(value):
    if isinstance(value, torch.Tensor):
        value = value.detach()
        if value.dtype == torch.bfloat16:
            value = value.float()
        if value.is_complex():
            raise InputError('the model returned a complex tensor, which has no Open Inference Protocol datatype')
        return value.cpu().numpy()
    if isinstance(value, (bool, int, float)):
        return np.asarray(value)
    raise InputError('the model returned a %s where a tensor was expected' % type(value).__name__)


def torch_outputs(result):
    """Tensors, tuples/lists of tensors (output__0, ...) and dicts of tensors (their keys)."""
    if isinstance(result, dict):
        return [(str(k), from_torch(v)) for k, v in result.items()]
    if isinstance(result, (tuple, list)):
        flat = []

        def walk(v):
            if isinstance(v, (tuple, list)):
                for x in v:
                    walk(x)
            else:
                flat.append(v)
        walk(result)
        return [('output__%d' % i, from_torch(v)) for i, v in enumerate(flat)]
    return [('output__0', from_torch(result))]


def unknown_spec(name):
    # Rank and datatype are unknown until a run: an empty shape means "not declared".
    return {'name': name, 'datatype': 'FP32', 'shape': []}


class TorchModel:
    def __init__(self, model, inputs, optional, outputs, threads):
        self.model = model
        self.inputs = inputs
        self.optional = optional
        self.outputs = outputs
        self.threads = threads

    def signature(self):
        return {
            'inputs': [unknown_spec(n) for n in self.inputs],
            'outputs': [unknown_spec(n) for n in (self.outputs or [])],
        }

    def run(self, named, wanted):
        named = dict(named)
        known = set(self.inputs) | set('input__%d' % i for i in range(len(self.inputs)))
        unknown = [n for n in named if n not in known]
        if unknown:
            raise InputError('unknown input(s) %s: the model takes %s'
                             % (', '.join('"%s"' % n for n in unknown),
                                ', '.join('"%s"' % n for n in self.inputs) or 'none'))
        args = []
        missing = None
        for i, name in enumerate(self.inputs):
            alias = 'input__%d' % i
            key = name if name in named else alias if alias in named else None
            if key is None:
                if name not in self.optional:
                    raise InputError('missing input "%s" (the model takes %s)'
                                     % (name, ', '.join('"%s"' % n for n in self.inputs)))
                missing = name
                continue
            if missing is not None:
                raise InputError('input "%s" is given but the earlier optional input "%s" is not'
                                 % (name, missing))
            args.append(to_torch(name, named.pop(key)))
        if named:
            raise InputError('input(s) %s given twice, by name and by position'
                             % ', '.join('"%s"' % n for n in named))
        torch.set_num_threads(self.threads)
        with torch.inference_mode():
            result = self.model(*args)
            outputs = torch_outputs(result)
        if wanted:
            found = dict(outputs)
            absent = [n for n in wanted if n not in found]
            if absent:
                raise InputError('unknown output(s) %s: the model returns %s'
                                 % (', '.join('"%s"' % n for n in absent),
                                    ', '.join('"%s"' % n for n, _ in outputs)))
            outputs = [(n, found[n]) for n in wanted]
        return outputs


def script_inputs(model):
    """The forward method's argument names where they are identifiers, else input__0, ..."""
    names = []
    optional = set()
    try:
        for arg in model.forward.schema.arguments[1:]:
            names.append(arg.name)
            if arg.default_value is not None:
                optional.add(arg.name)
    except Exception:
        names = [v.debugName() for v in list(model.graph.inputs())[1:]]
        optional = set()
    if all(IDENTIFIER.match(n) for n in names) and len(set(names)) == len(names):
        return names, optional
    plain = ['input__%d' % i for i in range(len(names))]
    return plain, set()


def script_outputs(model):
    try:
        returns = model.forward.schema.returns
        if len(returns) != 1:
            return None
        ty = returns[0].type
        kind = ty.kind()
        if kind == 'TensorType':
            return ['output__0']
        if kind == 'TupleType' and all(e.kind() == 'TensorType' for e in ty.elements()):
            return ['output__%d' % i for i in range(len(ty.elements()))]
    except Exception:
        pass
    return None


def load_torchscript(path, threads):
    torch.set_num_threads(threads)
    model = torch.jit.load(path, map_location='cpu')
    model.eval()
    inputs, optional = script_inputs(model)
    return TorchModel(model, inputs, optional, script_outputs(model), threads)


_module_count = [0]


def import_model_module(folder):
    import importlib.util
    source = os.path.join(folder, 'model.py')
    if not os.path.isfile(source):
        raise LoadError('a state_dict needs model.py beside it, defining the model class')
    _module_count[0] += 1
    name = 'portfolio_model_%d' % _module_count[0]
    spec = importlib.util.spec_from_file_location(name, source)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return name, module


def model_class(module, folder):
    manifest_path = os.path.join(folder, 'portfolio.json')
    kwargs = {}
    if os.path.isfile(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if not isinstance(manifest, dict) or not isinstance(manifest.get('class'), str):
            raise LoadError('portfolio.json must be an object with a "class" string')
        kwargs = manifest.get('kwargs') or {}
        if not isinstance(kwargs, dict):
            raise LoadError('"kwargs" in portfolio.json must be an object')
        cls = getattr(module, manifest['class'], None)
        if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
            raise LoadError('model.py defines no torch.nn.Module subclass named "%s" (portfolio.json names it)'
                            % manifest['class'])
        return cls, kwargs
    found = [v for v in vars(module).values()
             if isinstance(v, type) and issubclass(v, torch.nn.Module) and v.__module__ == module.__name__]
    if len(found) != 1:
        raise LoadError('model.py defines %d torch.nn.Module subclasses (%s): name the model class in '
                        'portfolio.json ({"class": "Net", "kwargs": {}})'
                        % (len(found), ', '.join(c.__name__ for c in found) or 'none'))
    return found[0], kwargs


def load_state_dict(path, threads):
    import inspect
    from collections.abc import Mapping
    torch.set_num_threads(threads)
    folder = os.path.dirname(os.path.abspath(path))
    module_name, module = import_model_module(folder)
    try:
        cls, kwargs = model_class(module, folder)
        try:
            state = torch.load(path, map_location='cpu', weights_only=True)
        except TypeError:
            state = torch.load(path, map_location='cpu')
        if isinstance(state, Mapping) and isinstance(state.get('state_dict'), Mapping):
            state = state['state_dict']
        if not isinstance(state, Mapping):
            raise LoadError('the weights file holds a %s, not a state_dict' % type(state).__name__)
        model = cls(**kwargs)
        model.load_state_dict(state, strict=True)
        del state
        model.eval()
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    names = []
    optional = set()
    for p in inspect.signature(model.forward).parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
            if p.default is not p.empty:
                optional.add(p.name)
    loaded = TorchModel(model, names, optional, None, threads)
    loaded.module_name = module_name
    return loaded


class SklearnModel:
    def __init__(self, estimator, threads):
        self.estimator = estimator
        self.threads = threads
        self.has_proba = hasattr(estimator, 'predict_proba')
        n = getattr(estimator, 'n_features_in_', None)
        self.n_features = int(n) if n is not None else None
        self.outputs = [{'name': 'label', 'datatype': 'FP64', 'shape': [-1]}]
        if self.has_proba:
            classes = getattr(estimator, 'classes_', None)
            width = len(classes) if classes is not None and np.ndim(classes) == 1 else -1
            self.outputs.append({'name': 'probabilities', 'datatype': 'FP64', 'shape': [-1, width]})
        self.probe()

    def probe(self):
        """Output datatypes and trailing dims, from a prediction on one row of zeros."""
        if self.n_features is None:
            classes = getattr(self.estimator, 'classes_', None)
            if classes is not None and np.ndim(classes) == 1:
                self.outputs[0]['datatype'] = datatype_of(np.asarray(classes))
            return
        try:
            for name, arr in self.predict(np.zeros((1, self.n_features)), None):
                spec = next(s for s in self.outputs if s['name'] == name)
                spec['datatype'] = datatype_of(arr)
                spec['shape'] = [-1] + [int(d) for d in arr.shape[1:]]
        except Exception:
            pass

    def signature(self):
        width = self.n_features if self.n_features is not None else -1
        return {'inputs': [{'name': 'input', 'datatype': 'FP64', 'shape': [-1, width]}],
                'outputs': self.outputs}

    def predict(self, x, wanted):
        from threadpoolctl import threadpool_limits
        names = wanted or [s['name'] for s in self.outputs]
        out = []
        with threadpool_limits(limits=self.threads):
            for name in names:
                if name == 'label':
                    out.append((name, np.asarray(self.estimator.predict(x))))
                elif name == 'probabilities' and self.has_proba:
                    out.append((name, np.asarray(self.estimator.predict_proba(x))))
                else:
                    raise InputError('unknown output "%s": the model returns %s'
                                     % (name, ', '.join('"%s"' % s['name'] for s in self.outputs)))
        return out

    def run(self, named, wanted):
        if len(named) != 1:
            raise InputError('a scikit-learn model takes one input ("input", [rows, features]), got %d' % len(named))
        (x,) = named.values()
        if x.ndim != 2:
            raise InputError('the input must have 2 dimensions [rows, features], got shape %s' % list(x.shape))
        if self.n_features is not None and x.shape[1] != self.n_features:
            raise InputError('the model takes %d features per row, got %d' % (self.n_features, x.shape[1]))
        return self.predict(x, wanted)


def load_sklearn(path, threads):
    joblib = import_sklearn()
    estimator = joblib.load(path)
    if not callable(getattr(estimator, 'predict', None)):
        raise LoadError('the file holds a %s, which has no predict method' % type(estimator).__name__)
    return SklearnModel(estimator, threads)


LOADERS = {'torchscript': load_torchscript, 'state_dict': load_state_dict, 'sklearn': load_sklearn}
models = {}
next_handle = [0]


def op_ping(header, payload):
    for name in header.get('frameworks', ()):
        FRAMEWORKS[name]()
    return {'pid': os.getpid(), 'rss': rss_bytes()}, ()


def op_load(header, payload):
    kind = header['kind']
    if kind == 'sklearn':
        import_sklearn()
    else:
        import_torch()
    threads = max(1, int(header.get('threads', 1)))
    settle()
    before = rss_bytes()
    model = LOADERS[kind](header['path'], threads)
    settle()
    after = rss_bytes()
    next_handle[0] += 1
    models[next_handle[0]] = model
    return {'handle': next_handle[0], 'signature': model.signature(),
            'rss_delta': max(0, after - before), 'rss': after}, ()


def op_run(header, payload):
    model = models.get(header['handle'])
    if model is None:
        raise LoadError('no model is loaded with handle %s' % header['handle'])
    named = decode_tensors(header, payload)
    outputs = model.run(named, header.get('outputs'))
    specs, blobs = encode_tensors(outputs)
    return {'tensors': specs}, blobs


def op_unload(header, payload):
    model = models.pop(header['handle'], None)
    if model is not None:
        sys.modules.pop(getattr(model, 'module_name', ''), None)
        del model
    settle()
    return {'rss': rss_bytes()}, ()


OPS = {'ping': op_ping, 'load': op_load, 'run': op_run, 'unload': op_unload}


def main():
    while True:
        header, payload = read_frame()
        if header is None:
            return
        rid = header.get('id')
        try:
            reply, blobs = OPS[header['op']](header, payload)
            reply['id'] = rid
            reply['ok'] = True
        except KeyboardInterrupt:
            raise
        except BaseException as e:
            traceback.print_exc(file=sys.stderr)
            text = str(e)
            message = type(e).__name__ + (': ' + text if text else '')
            if isinstance(e, (InputError, LoadError)):
                message = text
            reply = {'id': rid, 'ok': False, 'error': message, 'input': isinstance(e, InputError)}
            blobs = ()
        del payload
        write_frame(reply, blobs)


main()
`;
