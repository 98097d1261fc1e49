/**
 * Parse throughput of the `nvidia-smi -q -x` parser over every vendored capture.
 * Run directly for a quick number: `npx tsx bench/gpu-agent/parse.ts [milliseconds]`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSmiXml } from '../../gpu-agent/collector/parse-smi-xml.ts';

const fixturesRoot = fileURLToPath(new URL('../../gpu-agent/fixtures/', import.meta.url));

/** Every vendored `-q -x` capture, as bytes (what the runner hands the parser). */
export function loadXmlCorpus(): { name: string; bytes: Buffer }[] {
  return readdirSync(fixturesRoot, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.xml'))
    .sort()
    .map((name) => ({ name, bytes: readFileSync(join(fixturesRoot, name)) }));
}

export interface ParseThroughput {
  documents: number;
  bytes: number;
  documentsPerSecond: number;
  megabytesPerSecond: number;
  /** "<file>: <error>" for each capture that failed to parse (once per file). */
  failures: string[];
}

/**
 * Parses the whole corpus round-robin for about `durationMs` (always at least one full pass, so
 * every capture is checked) and reports documents and MB (10^6 bytes) per second.
 */
export async function measureParseThroughput(durationMs: number): Promise<ParseThroughput> {
  const corpus = loadXmlCorpus();
  const failures = new Map<string, string>();
  let documents = 0;
  let bytes = 0;
  const start = performance.now();
  let elapsed = 0;
  while (documents < corpus.length || elapsed < durationMs) {
    const item = corpus[documents % corpus.length];
    if (!item) break;
    try {
      parseSmiXml(item.bytes);
    } catch (error) {
      failures.set(item.name, `${item.name}: ${(error as Error).message}`);
    }
    documents += 1;
    bytes += item.bytes.byteLength;
    elapsed = performance.now() - start;
    // Yield now and then so a caller's timers (and test timeouts) still run.
    if (documents % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const seconds = Math.max(elapsed, 1e-6) / 1000;
  return {
    documents,
    bytes,
    documentsPerSecond: documents / seconds,
    megabytesPerSecond: bytes / 1e6 / seconds,
    failures: [...failures.values()],
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await measureParseThroughput(Number(process.argv[2] ?? 3000));
  console.log(
    `${result.documents} documents, ${(result.bytes / 1e6).toFixed(1)} MB: ` +
      `${result.documentsPerSecond.toFixed(0)} docs/s, ${result.megabytesPerSecond.toFixed(1)} MB/s`,
  );
  for (const failure of result.failures) console.log(`FAILED ${failure}`);
}
