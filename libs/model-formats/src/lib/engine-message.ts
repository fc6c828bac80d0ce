/**
 * What a model framework says when it refuses a model or an input, made fit for an API
 * client. Frameworks write for their own developers: ONNX Runtime names the absolute path
 * of the artifact on the server and the C++ source file, line and function that gave up
 * (`/onnxruntime_src/.../bfc_arena.cc:360 void* onnxruntime::BFCArena::Allocate...(...)`).
 * Clients get the sentence about their model or input; the original goes to the logs.
 */

/** A C/C++ source location (`file.cc:360`, with or without its directory), and the signature of the function that follows it. */
const SOURCE_LOCATION = new RegExp(
  [
    // the file, optionally behind its directory
    String.raw`(?:[A-Za-z]:)?(?:[^\s'"()]*[\\/])?[\w.+-]+\.(?:cc|cpp|cxx|c|hh|hpp|hxx|h|inl|inc):\d+`,
    // then, optionally, `[static|virtual] [return type] ns::Class::function(params) [const]`:
    // identifiers, templates and pointers only, so the sentence that follows is kept
    String.raw`(?:\s+[\w:<>*&,~ ]*?[\w>]::~?[\w<>]+\([^()]*\)(?:\s*const)?)?`,
  ].join(''),
  'g',
);

/** An absolute POSIX path (`/srv/artifacts/iris/…/model.onnx`) or a Windows one (`C:\models\x.onnx`). */
const ABSOLUTE_PATH =
  /(?<![\w.~/\\-])(?:\/|[A-Za-z]:\\)(?:[^\s'"(),;:/\\]+[/\\])*[^\s'"(),;:/\\]+/g;

/** ONNX Runtime's status prefix (`[ONNXRuntimeError] : 1 : FAIL : `), noise for a client. */
const ORT_STATUS_PREFIX = /\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*/g;

/**
 * Removes from a framework's message what only the server should see: source locations
 * (with the function named after them) and absolute paths (reduced to the file's own
 * name, which says which file without saying where the server keeps it).
 */
export function scrubEngineMessage(text: string): string {
  return text
    .replace(SOURCE_LOCATION, '')
    .replace(ORT_STATUS_PREFIX, '')
    .replace(ABSOLUTE_PATH, (path) => path.split(/[/\\]/).pop() ?? '')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * A framework refused a model (`load`) or an input (`run`). `message` is a sentence a
 * client may read; `detail` is the framework's own message, paths and all, for the logs.
 */
export class EngineError extends Error {
  override readonly name = 'EngineError';

  constructor(
    readonly stage: 'load' | 'run',
    message: string,
    readonly detail: string,
  ) {
    super(message);
  }
}
