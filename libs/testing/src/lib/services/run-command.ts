import { spawn } from 'node:child_process';

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion, rejecting with its stderr on a non-zero exit
 * or after timeoutMs. Resolves on 'exit', not 'close': `pg_ctl start` leaves
 * a server running that could otherwise hold inherited pipes open.
 */
export function runCommand(
  command: string,
  args: string[],
  timeoutMs = 60_000,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `${command} ${args.join(' ')} timed out after ${timeoutMs} ms\n${stderr}`,
        ),
      );
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // Give already-buffered output a turn to arrive before reporting.
      setImmediate(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        if (code === 0) resolve({ stdout, stderr });
        else
          reject(
            new Error(
              `${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${stderr || stdout}`,
            ),
          );
      });
    });
  });
}
