import { z } from 'zod';
import type { MigInstanceState, NodeSnapshot } from '../model.ts';

/**
 * What the subgraph accepts from an agent. Agents are remote processes holding only an API key,
 * so their snapshots are untrusted input: bounded sizes, finite numbers, no extra keys kept.
 */
const count = z.number().int().min(0).max(1e15);
const nullableCount = count.nullable();
const measure = z.number().finite().min(-1e6).max(1e9).nullable();
const percent = z.number().finite().min(0).max(1000).nullable();
const text = (max: number) => z.string().max(max);
const placement = z.object({
  start: z.number().int().min(0).max(64),
  size: z.number().int().min(1).max(64),
});

export const migInstanceSchema = z.object({
  gpuInstanceId: z.number().int().min(0).max(1_000_000),
  computeInstanceId: z.number().int().min(0).max(1_000_000).nullable(),
  profile: text(64),
  profileId: z.number().int().min(0).max(1_000_000).nullable(),
  memoryMiB: count,
  memoryUsedMiB: nullableCount,
  uuid: text(128).nullable(),
  placement: placement.nullable(),
  utilizationPercent: percent,
}) satisfies z.ZodType<MigInstanceState>;

const gpuSchema = z.object({
  uuid: z.string().min(1).max(128),
  index: z.number().int().min(0).max(1024),
  name: text(256),
  serial: text(128).nullable(),
  vbiosVersion: text(128).nullable(),
  pciBusId: text(64).nullable(),
  architecture: text(64).nullable(),
  memoryTotalMiB: count,
  memoryUsedMiB: nullableCount,
  utilizationPercent: percent,
  memoryUtilizationPercent: percent,
  temperatureC: measure,
  powerDrawW: measure,
  powerLimitW: measure,
  eccEnabled: z.boolean().nullable(),
  eccErrors: z
    .object({
      volatileCorrected: nullableCount,
      volatileUncorrected: nullableCount,
      aggregateCorrected: nullableCount,
      aggregateUncorrected: nullableCount,
    })
    .nullable(),
  retiredPages: z
    .object({ singleBit: nullableCount, doubleBit: nullableCount, pending: z.boolean().nullable() })
    .nullable(),
  remappedRows: z
    .object({
      correctable: nullableCount,
      uncorrectable: nullableCount,
      pending: z.boolean().nullable(),
      failure: z.boolean().nullable(),
    })
    .nullable(),
  clocks: z.object({
    graphicsMHz: measure,
    smMHz: measure,
    memoryMHz: measure,
    videoMHz: measure,
  }),
  migMode: z.object({ current: z.boolean(), pending: z.boolean() }),
  migProfiles: z
    .array(
      z.object({
        name: text(64),
        id: z.number().int().min(0).max(1_000_000),
        instancesFree: z.number().int().min(0).max(64),
        instancesTotal: z.number().int().min(0).max(64),
        memoryMiB: count,
        multiprocessors: z.number().int().min(0).max(100_000).nullable(),
        placements: z.array(placement).max(64),
      }),
    )
    .max(64),
  migInstances: z.array(migInstanceSchema).max(64),
  processes: z
    .array(
      z.object({
        pid: z
          .number()
          .int()
          .min(0)
          .max(2 ** 32),
        name: text(1024),
        type: text(16).nullable(),
        usedMemoryMiB: nullableCount,
        gpuInstanceId: z.number().int().min(0).max(1_000_000).nullable(),
        computeInstanceId: z.number().int().min(0).max(1_000_000).nullable(),
      }),
    )
    .max(4096),
  confidentialComputeMode: text(32).nullable(),
  confidentialComputeReady: z.boolean().nullable().optional(),
});

export const nodeSnapshotSchema = z.object({
  hostname: z.string().min(1).max(253),
  driverVersion: text(64).nullable(),
  cudaVersion: text(64).nullable(),
  collectedAt: z.string().datetime({ offset: true }),
  source: z.enum(['nvidia-smi', 'simulator', 'replay']),
  gpus: z
    .array(gpuSchema)
    .max(256)
    .refine((gpus) => new Set(gpus.map((g) => g.uuid)).size === gpus.length, {
      message: 'GPU UUIDs must be unique within a node',
    }),
}) satisfies z.ZodType<NodeSnapshot>;
