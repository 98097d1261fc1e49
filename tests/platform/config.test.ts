import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../platform/config.ts';

const base = { LOTABOTS_DATA_DIR: '/tmp/lotabots-config-test', LOTABOTS_SECRET: 'x'.repeat(40) };

describe('configuration', () => {
  it('uses the embedded defaults when nothing is set', () => {
    const config = loadConfig(base);
    expect(config.PORT).toBe(4000);
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.REDIS_URL).toBeUndefined();
    expect(config.S3_BUCKET).toBeUndefined();
    expect(config.ACCESS_TOKEN_TTL_SECONDS).toBe(900);
    expect(config.PASSWORD_HASH_LOG2N).toBe(17);
    expect(config.APOLLO_TELEMETRY_DISABLED).toBe(true);
    expect(config.publicUrl).toBe('http://localhost:4000');
  });

  it('reports every bad value at once, naming each variable', () => {
    let error: unknown;
    try {
      loadConfig({
        ...base,
        PORT: 'eighty',
        DATABASE_URL: 'mysql://nope',
        REDIS_URL: 'http://localhost:6379',
        ACCESS_TOKEN_TTL_SECONDS: '3600',
        S3_BUCKET: 'A',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of [
      'PORT',
      'DATABASE_URL',
      'REDIS_URL',
      'ACCESS_TOKEN_TTL_SECONDS',
      'S3_BUCKET',
    ]) {
      expect(problems).toContain(name);
    }
    expect(problems).toContain('at most 900');
  });

  it('requires a secret in production and half-set S3 credentials are refused', () => {
    expect(() =>
      loadConfig({ LOTABOTS_DATA_DIR: base.LOTABOTS_DATA_DIR, NODE_ENV: 'production' }),
    ).toThrow(/LOTABOTS_SECRET/);
    expect(() => loadConfig({ ...base, S3_BUCKET: 'bucket', S3_ACCESS_KEY_ID: 'id' })).toThrow(
      /set both or neither/,
    );
  });

  it('lets the GPU node agent run in production without the secret, writing nothing', () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'lotabots-agent-')), 'never-created');
    const config = loadConfig(
      { LOTABOTS_DATA_DIR: dataDir, NODE_ENV: 'production' },
      { needsSecret: false },
    );
    expect(config.secret).toBe('');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ ...base, DATABASE_URL: '', PORT: '' }).PORT).toBe(4000);
  });
});
