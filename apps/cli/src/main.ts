import { runCli } from './lib/cli';

/** `portfolio`: the admin CLI, over the HTTP admin API (see `portfolio --help`). */
runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error: ${String(err)}\n`);
    process.exitCode = 3;
  },
);
