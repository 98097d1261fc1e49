import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// Every variable platform/config.ts reads must be documented in .env.example and the README.
describe('configuration documentation', () => {
  const source = readFileSync(new URL('../../platform/config.ts', import.meta.url), 'utf8');
  const schemaBlock = source.slice(
    source.indexOf('const envSchema'),
    source.indexOf('export type Env'),
  );
  const variables = [...schemaBlock.matchAll(/^\s{2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!);

  it('finds the variables', () => {
    expect(variables).toContain('DATABASE_URL');
    expect(variables.length).toBeGreaterThan(30);
  });

  it('lists each in .env.example and in the README table', () => {
    const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const name of variables) {
      expect(example, `.env.example lacks ${name}`).toMatch(new RegExp(`^# ${name}=`, 'm'));
      expect(readme, `README lacks ${name}`).toContain(`\`${name}\``);
    }
  });
});
