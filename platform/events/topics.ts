/**
 * Topics that cross service boundaries, named once so publisher and subscribers cannot drift.
 * Payloads are documented next to each name.
 */

/** An API key was revoked: `{ prefix: string; apiKeyId: string }`. Gateways drop cached exchanges. */
export const apiKeyRevokedTopic = 'identity.api-key.revoked';

/**
 * A GPU node's agent reported: `{ id, organizationId, hostname, lastSeenAt, snapshot }`. Every
 * gpu-agent replica keeps the freshest state per node from these.
 */
export const gpuNodeSnapshotTopic = 'gpu-agent.node.snapshot';

/** MIG commands wait for a node: `{ nodeId }`. Wakes the replica holding that agent's poll. */
export const gpuNodeCommandsTopic = 'gpu-agent.node.commands';

/** A MIG command finished: `{ commandId }`. Wakes the replica waiting to answer the mutation. */
export const gpuCommandCompletedTopic = 'gpu-agent.command.completed';

/**
 * A hardware attestation changed status: the attestation record as stored after the change
 * (`organizationId`, `id`, `status`, …). Feeds `hardwareAttestationUpdated` on every replica.
 */
export const hardwareAttestationStatusTopic = 'hardware-attestation.status';

/**
 * A GPU's driver, VBIOS or CC mode changed after a VERIFIED attestation:
 * `{ organizationId, gpuUuid, attestationId, changes: { field, before, after }[] }`.
 */
export const hardwareAttestationDriftTopic = 'hardware-attestation.drift';

/**
 * Metered usage for billing: `{ events: { eventId, organizationId, metric, amount, at }[] }`.
 * The resources subgraph counts each `eventId` once, so publishers may resend after a failure.
 */
export const usageRecordedTopic = 'resources.usage.recorded';

/**
 * A GPU allocation started or ended: `{ organizationId, id, state, nodeId, gpuUuid, profile,
 * placementStart, placementSize, leaseExpiresAt }`.
 */
export const allocationChangedTopic = 'resources.allocation.changed';

/**
 * A model attestation changed status or made hashing progress: `{ organizationId, id, status }`.
 * Feeds `modelAttestationUpdated` on every replica (which reads the attestation as stored).
 */
export const modelAttestationStatusTopic = 'model-attestation.status';
