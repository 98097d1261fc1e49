import { spawn, type ChildProcess } from 'node:child_process';
import { SmiCommandError } from '../errors.ts';

export interface SmiRunnerOptions {
  /** Path or name of the binary; default "nvidia-smi". */
  binary?: string;
  /** Hard limit per command, including time spent waiting for the previous one; default 10 s. */
  timeoutMs?: number;
  /** stdout + stderr above this kills the command; default 32 MiB. */
  maxOutputBytes?: number;
  /** PATH for the child; nvidia-smi installs to /usr/bin. */
  searchPath?: string;
}

export interface SmiRunner {
  /**
   * Runs `binary …args` and resolves to its stdout. Rejects with SmiCommandError: TIMEOUT,
   * NOT_FOUND, OUTPUT_TOO_LARGE, or EXIT (the message carries the exit status and what the
   * command printed, since nvidia-smi reports most failures on stdout).
   */
  run(args: readonly string[]): Promise<string>;
  /** Kills the running command, if any; later calls reject. */
  close(): void;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const MESSAGE_TEXT_LIMIT = 4000;

/** Kills the whole process group: nvidia-smi wrappers and their children go with it. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/**
 * Creates a runner that allows one nvidia-smi at a time: concurrent `-q -x` calls have corrupted
 * output, and a hung driver makes every call block in D-state, so calls queue instead of piling
 * up. Each call's timeout starts when it is queued, so a caller waits at most `timeoutMs` in all;
 * the queue moves on only when a killed command has really exited.
 */
export function createSmiRunner(options: SmiRunnerOptions = {}): SmiRunner {
  const binary = options.binary ?? 'nvidia-smi';
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxOutputBytes = options.maxOutputBytes ?? 32 * 1024 * 1024;
  const env = { PATH: options.searchPath ?? DEFAULT_PATH, LC_ALL: 'C', LANG: 'C' };
  let tail: Promise<void> = Promise.resolve();
  let current: ChildProcess | null = null;
  let closed = false;

  function execute(args: readonly string[], deadline: number): Promise<string> {
    return new Promise((resolve, reject) => {
      let child: ChildProcess;
      try {
        // detached: the child leads its own process group, so a timeout can kill all of it.
        child = spawn(binary, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (error) {
        current = null;
        reject(new SmiCommandError('NOT_FOUND', `${binary}: ${(error as Error).message}`));
        return;
      }
      current = child;
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let bytes = 0;
      let failure: SmiCommandError | null = null;
      const fail = (error: SmiCommandError) => {
        failure ??= error;
        killGroup(child);
        // Reject now: a process stuck in the driver may never exit, and callers must not hang.
        reject(failure);
      };
      const timer = setTimeout(
        () => fail(new SmiCommandError('TIMEOUT', `${binary} ${args.join(' ')}: timed out`)),
        Math.max(0, deadline - Date.now()),
      );
      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        bytes += chunk.byteLength;
        if (bytes > maxOutputBytes) {
          fail(
            new SmiCommandError(
              'OUTPUT_TOO_LARGE',
              `${binary} ${args.join(' ')}: output over ${maxOutputBytes} bytes`,
            ),
          );
        } else if (!failure) into.push(chunk);
      };
      child.stdout?.on('data', collect(stdout));
      child.stderr?.on('data', collect(stderr));
      child.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const missing = error.code === 'ENOENT' || error.code === 'EACCES';
        failure ??= new SmiCommandError(
          missing ? 'NOT_FOUND' : 'EXIT',
          `${binary}: ${missing ? 'not found or not executable' : error.message}`,
        );
        reject(failure);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (current === child) current = null;
        if (failure) return;
        const out = Buffer.concat(stdout).toString('utf8');
        const err = Buffer.concat(stderr).toString('utf8');
        if (code === 0) {
          resolve(out);
          return;
        }
        const printed = `${err}\n${out}`.trim().slice(0, MESSAGE_TEXT_LIMIT);
        const status = code === null ? `signal ${signal ?? '?'}` : `status ${code}`;
        reject(
          new SmiCommandError(
            'EXIT',
            `${binary} ${args.join(' ')} exited with ${status}: ${printed}`,
            err.trim(),
          ),
        );
      });
    });
  }

  return {
    run(args) {
      if (closed) return Promise.reject(new SmiCommandError('EXIT', 'runner is closed'));
      const deadline = Date.now() + timeoutMs;
      const previous = tail;
      let release!: () => void;
      tail = new Promise((resolve) => (release = resolve));
      return new Promise<string>((resolve, reject) => {
        let settled = false;
        const waiting = setTimeout(() => {
          settled = true;
          reject(
            new SmiCommandError(
              'TIMEOUT',
              `${binary} ${args.join(' ')}: timed out waiting for the previous nvidia-smi to exit`,
            ),
          );
        }, timeoutMs);
        void previous.then(() => {
          clearTimeout(waiting);
          if (settled || closed) {
            release();
            if (!settled) reject(new SmiCommandError('EXIT', 'runner is closed'));
            return;
          }
          const running = execute(args, deadline);
          running.then(resolve, reject);
          // The slot frees when the process has exited, not when the caller gave up on it.
          const child = current;
          if (child && child.exitCode === null && child.signalCode === null) {
            child.once('close', release);
            child.once('error', release);
          } else {
            release();
          }
        });
      });
    },
    close() {
      closed = true;
      if (current) killGroup(current);
    },
  };
}
