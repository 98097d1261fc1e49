import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** gpu-agent/fixtures, where the vendored captures live. */
export const fixturesDir = fileURLToPath(new URL('../../../gpu-agent/fixtures/', import.meta.url));

export function fixture(path: string): Buffer {
  return readFileSync(join(fixturesDir, path));
}

export function fixtureText(path: string): string {
  return fixture(path).toString('utf8');
}

/** Every vendored `-q -x` capture, relative to fixturesDir. */
export function xmlFixtures(): string[] {
  return readdirSync(fixturesDir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.xml'))
    .sort();
}

/** A temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'gpu-agent-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes an executable shell script. */
export function writeScript(path: string, body: string): string {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** What the fake nvidia-smi does for one argument list. */
export interface FakeResponse {
  stdout?: string | Buffer;
  stderr?: string;
  exitCode?: number;
  /** Seconds to sleep before answering (a hung driver). */
  delaySeconds?: number;
  /** After answering, replace these responses (the GPU state changed). */
  then?: Record<string, FakeResponse>;
}

/**
 * A fake nvidia-smi in `dir`: it appends its arguments to `calls.log`, then prints the response
 * stored for its exact argument list ("-q -x", "mig -lgip", …); unknown arguments exit 2 with
 * "Invalid combination of input arguments." like the real binary.
 */
export class FakeSmi {
  readonly binary: string;
  private readonly responses: string;

  constructor(readonly dir: string) {
    this.responses = join(dir, 'responses');
    rmSync(this.responses, { recursive: true, force: true });
    writeFileSync(join(dir, 'calls.log'), '');
    this.binary = writeScript(
      join(dir, 'nvidia-smi'),
      [
        `dir='${dir}'`,
        'key=$(printf "%s" "$*" | tr " /" "_+")',
        'printf "%s\\n" "$*" >> "$dir/calls.log"',
        'r="$dir/responses/$key"',
        'if [ ! -f "$r.out" ]; then echo "Invalid combination of input arguments." ; exit 2; fi',
        '[ -f "$r.delay" ] && sleep "$(cat "$r.delay")"',
        'cat "$r.out"',
        '[ -f "$r.err" ] && cat "$r.err" >&2',
        'code=0; [ -f "$r.code" ] && code=$(cat "$r.code")',
        'if [ -d "$r.then" ]; then cp "$r.then"/* "$dir/responses/"; fi',
        'exit "$code"',
      ].join('\n'),
    );
  }

  /** Sets the responses, keyed by the argument list as typed ("mig -lgi"). */
  respond(responses: Record<string, FakeResponse>, into = this.responses): void {
    for (const [args, response] of Object.entries(responses)) {
      const base = join(into, args.replaceAll(' ', '_').replaceAll('/', '+'));
      writeFileSyncDeep(`${base}.out`, response.stdout ?? '');
      if (response.stderr !== undefined) writeFileSync(`${base}.err`, response.stderr);
      if (response.exitCode !== undefined) writeFileSync(`${base}.code`, String(response.exitCode));
      if (response.delaySeconds !== undefined) {
        writeFileSync(`${base}.delay`, String(response.delaySeconds));
      }
      if (response.then) this.respond(response.then, `${base}.then`);
    }
  }

  /** The argument lists the fake was called with, in order. */
  calls(): string[] {
    return readFileSync(join(this.dir, 'calls.log'), 'utf8').split('\n').filter(Boolean);
  }
}

function writeFileSyncDeep(path: string, content: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}
