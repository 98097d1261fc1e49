import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SmiCommandError } from '../../../gpu-agent/errors.ts';
import { createSmiRunner } from '../../../gpu-agent/collector/run-nvidia-smi.ts';
import { tempDir, writeScript } from './helpers.ts';

let dir: string;
let cleanup: () => void;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('smi-runner-'));
});
afterEach(() => cleanup());

/** True while `pid` exists and is not a zombie waiting to be reaped. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function waitUntil(condition: () => boolean, ms = 2000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return condition();
}

async function rejection(promise: Promise<unknown>): Promise<SmiCommandError> {
  const error: unknown = await promise.then(
    () => new Error('expected the command to fail'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SmiCommandError);
  return error as SmiCommandError;
}

describe('createSmiRunner', () => {
  it('returns stdout, runs with LC_ALL=C and passes the arguments through', async () => {
    const binary = writeScript(join(dir, 'nvidia-smi'), 'echo "LC_ALL=$LC_ALL args=$*"');
    const runner = createSmiRunner({ binary });
    expect(await runner.run(['-q', '-x'])).toBe('LC_ALL=C args=-q -x\n');
  });

  it('kills a hanging command and its children when the timeout passes', async () => {
    const binary = writeScript(
      join(dir, 'nvidia-smi'),
      `sleep 30 & echo $! > '${dir}/child.pid'\nsleep 30`,
    );
    const runner = createSmiRunner({ binary, timeoutMs: 300 });
    const started = Date.now();
    const error = await rejection(runner.run(['-q', '-x']));
    expect(error.kind).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2000);
    const child = Number(readFileSync(join(dir, 'child.pid'), 'utf8'));
    expect(await waitUntil(() => !isAlive(child))).toBe(true);
  });

  it('is usable again after a timeout', async () => {
    const binary = writeScript(
      join(dir, 'nvidia-smi'),
      `if [ "$1" = hang ]; then sleep 30; fi\necho ok`,
    );
    const runner = createSmiRunner({ binary, timeoutMs: 300 });
    expect((await rejection(runner.run(['hang']))).kind).toBe('TIMEOUT');
    expect(await runner.run(['-L'])).toBe('ok\n');
  });

  it('surfaces the exit status and stderr of a failing command', async () => {
    const binary = writeScript(
      join(dir, 'nvidia-smi'),
      'echo "No devices were found"\necho "NVML: Unknown Error" >&2\nexit 6',
    );
    const error = await rejection(createSmiRunner({ binary }).run(['-L']));
    expect(error.kind).toBe('EXIT');
    expect(error.stderr).toBe('NVML: Unknown Error');
    expect(error.message).toMatch(/status 6/);
    // nvidia-smi prints most failures on stdout; they must not be lost.
    expect(error.message).toMatch(/No devices were found/);
  });

  it('reports a missing or non-executable binary as NOT_FOUND', async () => {
    const missing = createSmiRunner({ binary: join(dir, 'no-such-nvidia-smi') });
    expect((await rejection(missing.run(['-L']))).kind).toBe('NOT_FOUND');
    const notExecutable = join(dir, 'plain-file');
    writeScript(notExecutable, 'echo hi');
    chmodSync(notExecutable, 0o644);
    expect((await rejection(createSmiRunner({ binary: notExecutable }).run([]))).kind).toBe(
      'NOT_FOUND',
    );
  });

  it('kills a command whose output passes the cap', async () => {
    const binary = writeScript(join(dir, 'nvidia-smi'), 'yes nvidia-smi-output-line');
    const runner = createSmiRunner({ binary, maxOutputBytes: 64 * 1024, timeoutMs: 5000 });
    const started = Date.now();
    expect((await rejection(runner.run(['-q', '-x']))).kind).toBe('OUTPUT_TOO_LARGE');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('runs one nvidia-smi at a time', async () => {
    const log = join(dir, 'log');
    const binary = writeScript(
      join(dir, 'nvidia-smi'),
      `echo "start $1" >> '${log}'\nsleep 0.2\necho "end $1" >> '${log}'\necho "$1"`,
    );
    const runner = createSmiRunner({ binary });
    const results = await Promise.all(['a', 'b', 'c'].map((id) => runner.run([id])));
    expect(results).toEqual(['a\n', 'b\n', 'c\n']);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual([
      'start a',
      'end a',
      'start b',
      'end b',
      'start c',
      'end c',
    ]);
  });

  it('gives up on a queued call whose time ran out while an earlier one hung', async () => {
    const binary = writeScript(join(dir, 'nvidia-smi'), 'sleep 1\necho "$1"');
    const runner = createSmiRunner({ binary, timeoutMs: 1500 });
    const first = runner.run(['first']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = runner.run(['second']);
    expect(await first).toBe('first\n');
    // The second waited ~0.9 s for the first, then had ~0.6 s left for its own 1 s run.
    expect((await rejection(second)).kind).toBe('TIMEOUT');
  });

  it('refuses calls after close and kills the running one', async () => {
    const binary = writeScript(join(dir, 'nvidia-smi'), 'sleep 30');
    const runner = createSmiRunner({ binary, timeoutMs: 10_000 });
    const running = runner.run(['-q', '-x']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    runner.close();
    const error = await rejection(running);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error.kind).toBe('EXIT');
    expect((await rejection(runner.run(['-L']))).message).toMatch(/closed/);
  });
});
