import type { Principal } from '../../../platform/auth/principal.ts';
import type { HardwareAttestationDeps } from './deps.ts';
import type { GpuEvidence } from './evidence.ts';
import { evidenceFromGpu } from './gpu-agent-client.ts';
import { evidenceFromReport } from './gpu-monitor.ts';

/** A GPU the caller's organization owns, with its current state as evidence. */
export interface OwnedGpu {
  uuid: string;
  evidence(nonce: string): GpuEvidence;
}

/**
 * The GPU if it is on a node of the caller's organization: from the node's latest report on the
 * event bus when this replica has a fresh one, else asked of the gpu-agent with the caller's own
 * credential (which scopes the answer). Null when it is not the organization's.
 */
export async function ownedGpu(
  deps: HardwareAttestationDeps,
  principal: Principal,
  authorization: string | null,
  gpuUuid: string,
): Promise<OwnedGpu | null> {
  const observed = deps.observedGpu(principal.organizationId, gpuUuid);
  if (observed) return { uuid: gpuUuid, evidence: (nonce) => evidenceFromReport(observed, nonce) };
  if (!authorization) return null;
  const gpu = await deps.gpus.gpu(authorization, gpuUuid);
  return gpu ? { uuid: gpu.uuid, evidence: (nonce) => evidenceFromGpu(gpu, nonce) } : null;
}
