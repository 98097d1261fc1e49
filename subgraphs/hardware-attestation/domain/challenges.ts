import { randomBytes } from 'node:crypto';
import type { Prisma } from '../../../generated/prisma/hardware-attestation/client.ts';
import type { Principal } from '../../../platform/auth/principal.ts';
import { notFound } from '../../../platform/errors.ts';
import type { HardwareAttestationDeps } from './deps.ts';
import type { NonceCheck } from './evidence.ts';
import { ownedGpu } from './owned-gpu.ts';

/** 32 random bytes, hex: what NRAS accepts as a nonce and EAT as `eat_nonce`. */
export function newNonce(): string {
  return randomBytes(32).toString('hex');
}

/** Issues a single-use nonce for a GPU the caller's organization owns (asked of the gpu-agent). */
export async function issueChallenge(
  deps: HardwareAttestationDeps,
  principal: Principal,
  authorization: string | null,
  gpuUuid: string,
): Promise<{ nonce: string; gpuUuid: string; expiresAt: Date }> {
  const gpu = await ownedGpu(deps, principal, authorization, gpuUuid);
  if (!gpu) throw notFound('GPU');
  const challenge = await deps.prisma.challenge.create({
    data: {
      nonce: newNonce(),
      organizationId: principal.organizationId,
      gpuUuid: gpu.uuid,
      expiresAt: new Date(Date.now() + deps.config.ATTESTATION_NONCE_TTL_SECONDS * 1000),
    },
  });
  return { nonce: challenge.nonce, gpuUuid: challenge.gpuUuid, expiresAt: challenge.expiresAt };
}

/**
 * Spends `nonce` on `attestationId` inside the submit transaction. The conditional update is what
 * makes it single-use: of two submissions racing with one nonce, the second finds it spent.
 */
export async function consumeNonce(
  tx: Prisma.TransactionClient,
  options: { nonce: string; organizationId: string; gpuUuid: string; attestationId: string },
): Promise<NonceCheck> {
  const { nonce, organizationId, gpuUuid, attestationId } = options;
  const shown = `${nonce.slice(0, 12)}…`;
  const challenge = await tx.challenge.findUnique({ where: { nonce } });
  if (!challenge || challenge.organizationId !== organizationId)
    return {
      ok: false,
      reason: `nonce ${shown} was not issued by a challenge of this organization`,
    };
  if (challenge.gpuUuid !== gpuUuid)
    return {
      ok: false,
      reason: `nonce ${shown} was issued for GPU ${challenge.gpuUuid}, not ${gpuUuid}`,
    };
  if (challenge.consumedAt)
    return {
      ok: false,
      reason: `nonce ${shown} was already used by attestation ${challenge.consumedBy ?? '?'} at ${challenge.consumedAt.toISOString()} (replay)`,
    };
  const now = new Date();
  if (challenge.expiresAt <= now)
    return { ok: false, reason: `nonce ${shown} expired at ${challenge.expiresAt.toISOString()}` };
  const spent = await tx.challenge.updateMany({
    where: { nonce, consumedAt: null },
    data: { consumedAt: now, consumedBy: attestationId },
  });
  if (spent.count === 0)
    return {
      ok: false,
      reason: `nonce ${shown} was used by another attestation at the same moment (replay)`,
    };
  return { ok: true, reason: null };
}
