import { z } from 'zod';

/**
 * Evidence about one GPU: its state as the gpu-agent reads it (`nvidia-smi -q -x`,
 * `conf-compute -f` / `-grs`, MIG listings), bound to a challenge nonce. Submitted by a caller or
 * collected by the service from the gpu-agent; untrusted either way, so sizes are bounded and
 * unknown keys dropped.
 */
const count = z.number().int().min(0).max(1e15);
const text = (max: number) => z.string().max(max);

export const gpuEvidenceSchema = z.object({
  /** The challenge nonce (hex) this evidence answers. */
  nonce: z.string().regex(/^[0-9a-f]{32,128}$/, 'must be the hex nonce of a challenge'),
  /** When the state was read (ISO 8601). */
  collectedAt: z.string().datetime({ offset: true }),
  node: z.object({
    id: text(128).nullable(),
    hostname: z.string().min(1).max(253),
    driverVersion: text(64).nullable(),
    cudaVersion: text(64).nullable(),
  }),
  gpu: z.object({
    uuid: z.string().min(1).max(128),
    index: z.number().int().min(0).max(1024),
    /** Product name, e.g. "NVIDIA H100 80GB HBM3". */
    name: text(256),
    serial: text(128).nullable(),
    vbiosVersion: text(128).nullable(),
    pciBusId: text(64).nullable(),
    /** PCI device id, e.g. "0x233010DE", when known. */
    pciDeviceId: text(32).nullable().default(null),
    architecture: text(64).nullable(),
    memoryTotalMiB: count,
    eccEnabled: z.boolean().nullable(),
    eccErrors: z
      .object({
        volatileCorrected: count.nullable(),
        volatileUncorrected: count.nullable(),
        aggregateCorrected: count.nullable(),
        aggregateUncorrected: count.nullable(),
      })
      .nullable(),
    retiredPages: z
      .object({
        singleBit: count.nullable(),
        doubleBit: count.nullable(),
        pending: z.boolean().nullable(),
      })
      .nullable(),
    remappedRows: z
      .object({
        correctable: count.nullable(),
        uncorrectable: count.nullable(),
        pending: z.boolean().nullable(),
        failure: z.boolean().nullable(),
      })
      .nullable(),
    migMode: z.object({ current: z.boolean(), pending: z.boolean() }),
    migInstances: z
      .array(
        z.object({
          gpuInstanceId: z.number().int().min(0).max(1_000_000),
          profile: text(64),
          memoryMiB: count,
        }),
      )
      .max(64),
    /** `nvidia-smi conf-compute -f`: "ON", "OFF", "DEVTOOLS"; null when unknown. */
    confidentialComputeMode: text(32).nullable(),
    /** `nvidia-smi conf-compute -grs`: whether the GPU accepts CC workloads; null when unknown. */
    confidentialComputeReady: z.boolean().nullable().default(null),
  }),
});

export type GpuEvidence = z.infer<typeof gpuEvidenceSchema>;

/** Result of checking the submitted nonce against the organization's challenges. */
export interface NonceCheck {
  ok: boolean;
  /** Why it failed: unknown, expired at …, already used by attestation …, issued for another GPU. */
  reason: string | null;
}
