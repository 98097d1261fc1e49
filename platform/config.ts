import { reservableQuotaKinds } from './quota/kinds.ts';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';

/**
 * Every environment variable LotaBots reads, parsed once at boot. Nothing else in the code base
 * reads `process.env` (a lint rule enforces it); services receive the parsed `Config`.
 * `.env.example` and the README's configuration table list the same variables.
 */
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const url = z.string().url();

const quotaTierLimits = z.record(
  z.enum(['FREE', 'PRO', 'ENTERPRISE']),
  z.record(z.enum(reservableQuotaKinds), z.number().nonnegative()),
);

const quotaOverrides = z.record(
  z.string().uuid('keys must be organization ids'),
  z.record(z.enum(reservableQuotaKinds), z.number().nonnegative()),
);

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return Symbol('not JSON');
  }
}

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOTABOTS_DATA_DIR: z.string().min(1).default('./.lotabots'),
  LOTABOTS_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),

  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(4000),
  PUBLIC_URL: url.optional(),
  MAX_BODY_BYTES: positiveInt.default(1_048_576),

  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  DATABASE_SCHEMA_PREFIX: z
    .string()
    .regex(/^([a-z_][a-z0-9_]*)?$/, 'must be a lowercase SQL identifier prefix')
    .default(''),
  DATABASE_POOL_SIZE: positiveInt.default(10),

  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  REDIS_KEY_PREFIX: z.string().default('lotabots:'),

  S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name (3-63 characters)')
    .optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ENDPOINT: url.optional(),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: bool.optional(),
  S3_KEY_PREFIX: z.string().default(''),
  SIGNED_URL_TTL_SECONDS: positiveInt.max(7 * 24 * 3600).default(900),

  TOKEN_ISSUER: z.string().min(1).optional(),
  TOKEN_AUDIENCE: z.string().min(1).default('lotabots-api'),
  ACCESS_TOKEN_TTL_SECONDS: positiveInt.max(900, 'must be at most 900 (15 minutes)').default(900),
  REFRESH_TOKEN_TTL_SECONDS: positiveInt.default(30 * 24 * 3600),
  SIGNING_KEY_ALG: z.enum(['ES256', 'EdDSA']).default('ES256'),
  SIGNING_KEY_ROTATION_HOURS: z.coerce
    .number()
    .positive()
    .default(24 * 7),
  PASSWORD_HASH_LOG2N: z.coerce.number().int().min(14).max(20).default(17),
  LOGIN_THROTTLE_WINDOW_SECONDS: positiveInt.default(900),
  LOGIN_MAX_FAILURES_PER_ACCOUNT: positiveInt.default(10),
  LOGIN_MAX_FAILURES_PER_IP: positiveInt.default(100),
  SIGNUPS_PER_IP_PER_HOUR: positiveInt.default(50),
  TRUST_PROXY: bool.default('false'),

  JWKS_URL: url.optional(),
  SUPERGRAPH_PATH: z.string().min(1).default('schema/supergraph.graphql'),
  SUPERGRAPH_SOURCE: z.enum(['file', 'introspect', 'uplink']).default('file'),
  APOLLO_KEY: z.string().min(1).optional(),
  APOLLO_GRAPH_REF: z.string().min(1).optional(),
  APOLLO_TELEMETRY_DISABLED: bool.default('true'),
  SUBGRAPH_IDENTITY_URL: url.optional(),
  SUBGRAPH_GPU_AGENT_URL: url.optional(),
  SUBGRAPH_HARDWARE_ATTESTATION_URL: url.optional(),
  SUBGRAPH_RESOURCES_URL: url.optional(),
  SUBGRAPH_DOCUMENTS_URL: url.optional(),
  SUBGRAPH_MODEL_ATTESTATION_URL: url.optional(),

  RATE_LIMIT_ENABLED: bool.default('true'),
  RATE_LIMIT_FAIL_MODE: z.enum(['open', 'closed']).default('open'),
  RATE_LIMIT_WINDOW_SECONDS: positiveInt.default(60),
  RATE_LIMIT_FREE: positiveInt.default(1_000),
  RATE_LIMIT_PRO: positiveInt.default(10_000),
  RATE_LIMIT_ENTERPRISE: positiveInt.default(100_000),
  RATE_LIMIT_ANONYMOUS: positiveInt.default(1_000),
  MAX_QUERY_DEPTH: positiveInt.default(15),
  MAX_QUERY_ALIASES: positiveInt.default(30),
  MAX_ROOT_FIELDS: positiveInt.default(20),
  MAX_QUERY_TOKENS: positiveInt.default(5_000),
  MAX_BATCH_SIZE: positiveInt.default(10),
  MAX_QUERY_COST: positiveInt.default(10_000),
  PERSISTED_QUERIES: z.enum(['off', 'apq', 'safelist']).default('apq'),
  PERSISTED_QUERIES_MANIFEST: z.string().min(1).optional(),
  INTROSPECTION: bool.optional(),
  AUTH_DENIED_FIELDS: z.enum(['reject', 'null']).default('reject'),
  CORS_ORIGINS: z.string().default(''),
  CSRF_PREVENTION: bool.default('true'),
  OTEL_EXPORTER_OTLP_ENDPOINT: url.optional(),
  SUBSCRIPTION_QUEUE_LIMIT: positiveInt.max(100_000).default(256),
  SUBSCRIPTION_SLOW_CONSUMER: z.enum(['close', 'drop-oldest']).default('close'),
  SUBSCRIPTION_KEEPALIVE_SECONDS: positiveInt.max(300).default(12),
  SUBSCRIPTIONS_PER_CONNECTION: positiveInt.max(10_000).default(100),
  SUPERGRAPH_WATCH: bool.default('true'),
  GPU_SOURCE: z.enum(['auto', 'nvidia-smi', 'simulator', 'replay']).default('auto'),
  NVIDIA_SMI_PATH: z.string().min(1).default('nvidia-smi'),
  NVIDIA_SMI_TIMEOUT_MS: positiveInt.default(10_000),
  GPU_REPLAY_DIR: z.string().min(1).optional(),
  GPU_SIMULATED_GPUS: z
    .string()
    .regex(
      /^(H100-80GB|A100-80GB|A100-40GB|H200-141GB)(:mig)?(,(H100-80GB|A100-80GB|A100-40GB|H200-141GB)(:mig)?)*$/,
      'must be a comma-separated list of H100-80GB, A100-80GB, A100-40GB, H200-141GB, each optionally with :mig',
    )
    .default(
      'H100-80GB:mig,H100-80GB:mig,H100-80GB,H100-80GB,A100-80GB:mig,A100-80GB,A100-40GB:mig,A100-40GB',
    ),
  GPU_AGENT_INTERVAL_SECONDS: positiveInt.max(3600).default(5),
  GPU_NODE_OFFLINE_AFTER_SECONDS: positiveInt.default(30),
  GPU_MIG_COMMAND_TIMEOUT_SECONDS: positiveInt.max(600).default(30),
  GPU_AGENT_ENDPOINT: url.optional(),
  GPU_AGENT_API_KEY: z.string().startsWith('lb_', 'must be an API key (lb_…)').optional(),
  GPU_AGENT_HOSTNAME: z.string().min(1).max(253).optional(),
  GPU_DEMO_NODE: bool.default('true'),
  ATTESTATION_NONCE_TTL_SECONDS: positiveInt.max(3600).default(300),
  ATTESTATION_WORKERS: positiveInt.max(64).default(8),
  ATTESTATION_LEASE_SECONDS: positiveInt.max(3600).default(30),
  ATTESTATION_MAX_ATTEMPTS: positiveInt.max(50).default(5),
  ATTESTATION_EVIDENCE_MAX_BYTES: positiveInt.max(4 * 1024 * 1024).default(256 * 1024),
  REATTESTATION_INTERVAL_HOURS: z.coerce.number().min(0).max(8760).default(24),
  NRAS_JWKS: z.string().min(1).default('https://nras.attestation.nvidia.com/.well-known/jwks.json'),
  NRAS_ROOT_CERT: z.string().min(1).optional(),
  NRAS_ISSUER: z.string().min(1).default('https://nras.attestation.nvidia.com'),
  ATTESTATION_RESULT_KEY_ALG: z.enum(['ES256', 'ES384']).default('ES384'),
  ATTESTATION_RESULT_KEY_ROTATION_HOURS: z.coerce
    .number()
    .positive()
    .default(24 * 30),
  ATTESTATION_RESULT_KEY_OVERLAP_HOURS: z.coerce
    .number()
    .positive()
    .default(24 * 365),
  QUOTA_OVERRIDES: z
    .string()
    .default('{}')
    .transform((raw, ctx) => {
      const parsed = quotaOverrides.safeParse(safeJson(raw));
      if (parsed.success) return parsed.data;
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `must be JSON like {"<organization id>": {"GPU_ALLOCATION_HOURS": 500}}: ${parsed.error.issues
          .map((i) => `${i.path.join('.') || '(root)'} ${i.message}`)
          .join('; ')}`,
      });
      return z.NEVER;
    }),
  USAGE_FLUSH_SECONDS: positiveInt.max(3600).default(10),
  QUOTA_TIER_LIMITS: z
    .string()
    .default('{}')
    .transform((raw, ctx) => {
      const parsed = quotaTierLimits.safeParse(safeJson(raw));
      if (parsed.success) return parsed.data;
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `must be JSON like {"FREE": {"CONCURRENT_ATTESTATIONS": 10}}: ${parsed.error.issues
          .map((i) => `${i.path.join('.') || '(root)'} ${i.message}`)
          .join('; ')}`,
      });
      return z.NEVER;
    }),
  QUOTA_RESERVATION_TTL_SECONDS: positiveInt.max(24 * 3600).default(300),
  ALLOCATION_MAX_SECONDS: positiveInt.default(7 * 24 * 3600),
  DOCUMENT_MAX_BYTES: positiveInt.default(100 * 1024 * 1024),
  DOCUMENT_RESTORE_DAYS: positiveInt.max(3650).default(30),
  REPORT_WORKERS: positiveInt.max(32).default(2),
  REPORT_MAX_ATTEMPTS: positiveInt.max(20).default(5),
  MODEL_ATTESTATION_WORKERS: positiveInt.max(32).default(2),
  MODEL_ATTESTATION_MAX_ATTEMPTS: positiveInt.max(20).default(4),
  MODEL_SHARD_BYTES: positiveInt.min(1024).default(1_000_000_000),
  AUDIT_CHECKPOINT_SECONDS: positiveInt.min(10).default(3600),
  LOTABOTS_DEMO_EMAIL: z.string().email().default('demo@lotabots.dev'),
  LOTABOTS_DEMO_PASSWORD: z.string().min(12, 'must be at least 12 characters').optional(),
});

export type Env = z.infer<typeof envSchema>;

/** The parsed configuration, plus values derived from it (absolute data dir, secret, issuer). */
export interface Config extends Env {
  dataDir: string;
  secret: string;
  issuer: string;
  publicUrl: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses `env` and reports every bad value at once. `needsSecret: false` is for processes that
 * never sign, encrypt or verify with LOTABOTS_SECRET (the GPU node agent, which holds only an API
 * key): production does not demand it of them, and no development secret is written for them
 * (their file system may be read-only). `secret` is then empty.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  options: { needsSecret?: boolean } = {},
): Config {
  const needsSecret = options.needsSecret ?? true;
  // Empty strings count as unset so `FOO= npm start` behaves like leaving FOO out.
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v !== ''),
  );
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  }
  const values = parsed.data;
  const problems: string[] = [];
  if (needsSecret && values.NODE_ENV === 'production' && !values.LOTABOTS_SECRET) {
    problems.push('LOTABOTS_SECRET: required in production (at least 32 random characters)');
  }
  if (
    values.S3_BUCKET &&
    Boolean(values.S3_ACCESS_KEY_ID) !== Boolean(values.S3_SECRET_ACCESS_KEY)
  ) {
    problems.push('S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY: set both or neither');
  }
  if (values.SUPERGRAPH_SOURCE === 'uplink' && !(values.APOLLO_KEY && values.APOLLO_GRAPH_REF)) {
    problems.push('SUPERGRAPH_SOURCE: uplink needs APOLLO_KEY and APOLLO_GRAPH_REF');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const dataDir = resolve(values.LOTABOTS_DATA_DIR);
  const publicUrl = (values.PUBLIC_URL ?? `http://localhost:${values.PORT}`).replace(/\/$/, '');
  return {
    ...values,
    dataDir,
    secret: values.LOTABOTS_SECRET ?? (needsSecret ? developmentSecret(dataDir) : ''),
    issuer: values.TOKEN_ISSUER ?? publicUrl,
    publicUrl,
  };
}

/**
 * Outside production a secret is generated once and kept in the data dir, so signed URLs and
 * encrypted keys survive restarts without any setup.
 */
function developmentSecret(dataDir: string): string {
  const file = join(dataDir, 'secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, secret, { mode: 0o600, flag: 'wx' });
  return secret;
}

/**
 * Settings that libraries read from the environment themselves. @apollo/gateway sends anonymous
 * telemetry and probes cloud metadata unless APOLLO_TELEMETRY_DISABLED is set; LotaBots turns that
 * off by default.
 */
export function applyProcessSettings(config: Config): void {
  if (config.APOLLO_TELEMETRY_DISABLED) process.env.APOLLO_TELEMETRY_DISABLED = 'true';
}
