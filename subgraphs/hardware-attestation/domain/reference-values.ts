import { z } from 'zod';

/**
 * Reference values: what an organization (or the platform) accepts for one GPU model, in the
 * RATS sense (RFC 9334 §8.3). Only the content lives here; storing and versioning the sets is the
 * repository's job. The appraisal policy (policy.ts) compares evidence against this content.
 */

/** A version range / allow-list / deny-list for one component (driver, VBIOS). */
export interface VersionConstraint {
  /** Lowest accepted version (inclusive). */
  min?: string;
  /** Highest accepted version (inclusive). */
  max?: string;
  /** When given, only these versions are accepted. */
  allowed?: string[];
  /** Never accepted, whatever the range says. */
  denied?: string[];
}

/**
 * What an organization (or the platform) accepts for one GPU model. Every field is optional: an
 * absent field means there is no reference for that claim, which the appraisal reports as a
 * WARNING ("no reference value for …"), never as a pass.
 */
export interface ReferenceValueContent {
  /** Allowed product names; entries match case-insensitively as substrings ("H100" matches "NVIDIA H100 80GB HBM3"). */
  gpuModels?: string[];
  /** Dotted numeric driver versions like "580.173.02". */
  driverVersions?: VersionConstraint;
  /** VBIOS versions like "96.00.CF.00.01" (dotted, hex-ish segments). */
  vbiosVersions?: VersionConstraint;
  /** Required confidential-computing mode (`nvidia-smi conf-compute -f`). */
  confidentialComputeMode?: 'ON' | 'OFF' | 'DEVTOOLS';
  /** Whether the GPU must already report the CC "ready" state (`nvidia-smi conf-compute -grs`). */
  confidentialComputeReadyRequired?: boolean;
  /** Whether ECC must be enabled. */
  eccRequired?: boolean;
  /** Most volatile (since boot) uncorrected ECC errors accepted. */
  maxVolatileUncorrectedEccErrors?: number;
  /** Most aggregate (lifetime) uncorrected ECC errors accepted. */
  maxAggregateUncorrectedEccErrors?: number;
  /** Most retired pages (single + double bit) accepted. */
  maxRetiredPages?: number;
  /** Whether a pending row remapping (needs a GPU reset) is acceptable. */
  allowPendingRemappedRows?: boolean;
  /** Required MIG mode; ANY accepts both. */
  migMode?: 'ENABLED' | 'DISABLED' | 'ANY';
  /** An NRAS (NVIDIA Remote Attestation Service) result must be present and verified. */
  nrasRequired?: boolean;
}

const FIELDS = [
  'gpuModels',
  'driverVersions',
  'vbiosVersions',
  'confidentialComputeMode',
  'confidentialComputeReadyRequired',
  'eccRequired',
  'maxVolatileUncorrectedEccErrors',
  'maxAggregateUncorrectedEccErrors',
  'maxRetiredPages',
  'allowPendingRemappedRows',
  'migMode',
  'nrasRequired',
] as const satisfies readonly (keyof ReferenceValueContent)[];

/** Rejects unknown keys naming them and the accepted ones (a typo must not silently drop a requirement). */
function strictObject<T extends z.ZodRawShape>(shape: T, accepted: readonly string[]) {
  return z
    .object(shape, {
      errorMap: (issue, ctx) =>
        issue.code === 'unrecognized_keys'
          ? {
              message: `unknown field${issue.keys.length === 1 ? '' : 's'} ${issue.keys
                .map((key) => `"${key}"`)
                .join(', ')}; expected ${accepted.join(', ')}`,
            }
          : { message: ctx.defaultError },
    })
    .strict();
}

const DRIVER_VERSION = /^\d{1,6}(\.\d{1,6}){0,4}$/;
const VBIOS_VERSION = /^[0-9A-Fa-f]{1,8}(\.[0-9A-Fa-f]{1,8}){0,7}$/;

function versionConstraint(pattern: RegExp, example: string) {
  const version = z.string().max(64).regex(pattern, `must be a dotted version like "${example}"`);
  return strictObject(
    {
      min: version.optional(),
      max: version.optional(),
      allowed: z
        .array(version)
        .min(1, 'must list at least one version (omit it to allow any)')
        .max(200)
        .optional(),
      denied: z.array(version).max(200).optional(),
    },
    ['min', 'max', 'allowed', 'denied'],
  ).refine(
    (c) => c.min === undefined || c.max === undefined || compareVersions(c.min, c.max) <= 0,
    {
      message: 'min must not be above max',
      path: ['max'],
    },
  );
}

const errorCount = z.number().int().min(0).max(1_000_000_000);

export const referenceValueContentSchema: z.ZodType<ReferenceValueContent> = strictObject(
  {
    gpuModels: z
      .array(z.string().trim().min(1).max(128))
      .min(1, 'must list at least one GPU model (omit it to accept any)')
      .max(100)
      .optional(),
    driverVersions: versionConstraint(DRIVER_VERSION, '580.173.02').optional(),
    vbiosVersions: versionConstraint(VBIOS_VERSION, '96.00.CF.00.01').optional(),
    confidentialComputeMode: z.enum(['ON', 'OFF', 'DEVTOOLS']).optional(),
    confidentialComputeReadyRequired: z.boolean().optional(),
    eccRequired: z.boolean().optional(),
    maxVolatileUncorrectedEccErrors: errorCount.optional(),
    maxAggregateUncorrectedEccErrors: errorCount.optional(),
    maxRetiredPages: errorCount.optional(),
    allowPendingRemappedRows: z.boolean().optional(),
    migMode: z.enum(['ENABLED', 'DISABLED', 'ANY']).optional(),
    nrasRequired: z.boolean().optional(),
  },
  FIELDS,
);

/** Whether a product name ("NVIDIA H100 80GB HBM3") matches a model entry ("H100"): case-insensitive substring. */
export function gpuModelMatches(productName: string, model: string): boolean {
  const needle = model.trim().toLowerCase();
  return needle.length > 0 && productName.toLowerCase().includes(needle);
}

const hopper: ReferenceValueContent = {
  driverVersions: { min: '550.54.14' },
  // Every Hopper VBIOS is 96.xx; anything else is not Hopper firmware.
  vbiosVersions: { min: '96.00.00.00.00', max: '96.FF.FF.FF.FF' },
  confidentialComputeMode: 'ON',
  // The CC "ready" state is set by the workload owner *after* a successful attestation.
  confidentialComputeReadyRequired: false,
  eccRequired: true,
  maxVolatileUncorrectedEccErrors: 0,
  maxRetiredPages: 0,
  allowPendingRemappedRows: false,
  migMode: 'ANY',
  nrasRequired: false,
};

/**
 * Built-in platform defaults per GPU model family, used when an organization has none for a model.
 * `gpuModel` matches a product name like a `gpuModels` entry (see {@link gpuModelMatches}).
 */
export const platformReferenceValues: {
  name: string;
  gpuModel: string;
  content: ReferenceValueContent;
}[] = [
  {
    name: 'platform default: NVIDIA H100',
    gpuModel: 'H100',
    content: { gpuModels: ['H100'], ...hopper },
  },
  {
    name: 'platform default: NVIDIA H200',
    gpuModel: 'H200',
    content: { gpuModels: ['H200'], ...hopper },
  },
  {
    // Ampere has no confidential computing: no CC requirement at all.
    name: 'platform default: NVIDIA A100',
    gpuModel: 'A100',
    content: {
      gpuModels: ['A100'],
      driverVersions: { min: '535.54.03' },
      vbiosVersions: { min: '92.00.00.00.00', max: '92.FF.FF.FF.FF' },
      eccRequired: true,
      maxVolatileUncorrectedEccErrors: 0,
      maxRetiredPages: 0,
      allowPendingRemappedRows: false,
      migMode: 'ANY',
      nrasRequired: false,
    },
  },
];

/** The platform default for a product name, if any family matches. */
export function platformReferenceFor(
  productName: string,
): { name: string; gpuModel: string; content: ReferenceValueContent } | null {
  return platformReferenceValues.find((r) => gpuModelMatches(productName, r.gpuModel)) ?? null;
}

const NUMERIC = /^\d+$/;
const HEX = /^[0-9a-f]+$/i;

/** Compares two unsigned digit strings of any length without precision loss. */
function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+(?=.)/, '');
  const y = b.replace(/^0+(?=.)/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Dotted version comparison, used by the policy's `versionCompare()`: negative when a < b, 0 when
 * equal, positive when a > b. Segments compare numerically when both are decimal, as hex when both
 * are hex ("CF" < "D0"), else as case-insensitive strings; a missing segment counts as "0", so
 * "580.173" < "580.173.02" and "1.2" == "1.2.0".
 */
export function compareVersions(a: string, b: string): number {
  const left = a.trim().split('.');
  const right = b.trim().split('.');
  const length = Math.max(left.length, right.length);
  for (let i = 0; i < length; i++) {
    const x = left[i] ?? '0';
    const y = right[i] ?? '0';
    let order: number;
    if (NUMERIC.test(x) && NUMERIC.test(y)) order = compareDigits(x, y);
    else if (HEX.test(x) && HEX.test(y)) order = compareDigits(x.toLowerCase(), y.toLowerCase());
    else {
      const xl = x.toLowerCase();
      const yl = y.toLowerCase();
      order = xl < yl ? -1 : xl > yl ? 1 : 0;
    }
    if (order !== 0) return order;
  }
  return 0;
}
