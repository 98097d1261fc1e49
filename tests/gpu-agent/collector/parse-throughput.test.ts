import { describe, expect, it } from 'vitest';
import { loadXmlCorpus, measureParseThroughput } from '../../../bench/gpu-agent/parse.ts';
import { xmlFixtures } from './helpers.ts';

describe('measureParseThroughput', () => {
  it('parses the whole vendored corpus without failures and reports rates', async () => {
    const corpus = loadXmlCorpus();
    expect(corpus.map((item) => item.name)).toEqual(xmlFixtures());
    const result = await measureParseThroughput(200);
    expect(result.failures).toEqual([]);
    expect(result.documents).toBeGreaterThanOrEqual(corpus.length);
    const corpusBytes = corpus.reduce((sum, item) => sum + item.bytes.byteLength, 0);
    expect(result.bytes).toBeGreaterThanOrEqual(corpusBytes);
    expect(result.documentsPerSecond).toBeGreaterThan(0);
    expect(result.megabytesPerSecond).toBeCloseTo(
      (result.bytes / 1e6) * (result.documentsPerSecond / result.documents),
      6,
    );
  });
});
