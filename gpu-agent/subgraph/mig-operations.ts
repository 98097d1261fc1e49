import type { Principal } from '../../platform/auth/principal.ts';
import { DomainError, badInput, conflict, notFound } from '../../platform/errors.ts';
import type { MigCommand } from '../../generated/prisma/gpu-agent/client.ts';
import type { MigFailureReason } from '../errors.ts';
import type { MigInstanceState } from '../model.ts';
import type { GpuAgentDeps } from './context.ts';

/**
 * The domain side of `createMigInstance` / `destroyMigInstance`: find the caller's GPU, refuse at
 * once what the last snapshot already rules out (recorded in the audit log all the same), and
 * otherwise let the node decide — its driver is the authority on free placements.
 */
export async function createMigInstance(
  deps: GpuAgentDeps,
  principal: Principal,
  input: { gpuUuid: string; profile: string },
): Promise<MigInstanceState> {
  const profile = input.profile.trim();
  if (!/^[A-Za-z0-9.+]{1,32}$/.test(profile)) {
    throw badInput('profile must be a MIG profile name such as "1g.10gb" or its numeric id', {
      field: 'profile',
    });
  }
  const { node, gpu } = findGpu(deps, principal, input.gpuUuid);
  const base = {
    organizationId: principal.organizationId,
    nodeId: node.id,
    gpuUuid: gpu.uuid,
    kind: 'CREATE' as const,
    profile,
    requestedBy: principal.subject,
  };
  if (gpu.migProfiles.length === 0) {
    await deps.commands.recordRefusal(base, 'MIG_NOT_SUPPORTED', 'No MIG-supported devices found.');
    throw conflict(`GPU ${gpu.uuid} (${gpu.name}) does not support MIG`, 'MIG_NOT_SUPPORTED');
  }
  const known = gpu.migProfiles.find((p) => p.name === profile || String(p.id) === profile);
  if (!known) {
    const names = gpu.migProfiles.map((p) => `${p.name} (${p.id})`).join(', ');
    await deps.commands.recordRefusal(base, 'UNKNOWN_PROFILE', `Unknown profile ${profile}`);
    throw badInput(`${gpu.name} has no MIG profile "${profile}"; it offers ${names}`, {
      field: 'profile',
      reason: 'UNKNOWN_PROFILE',
    });
  }
  if (!gpu.migMode.current) {
    await deps.commands.recordRefusal(base, 'MIG_DISABLED', 'No MIG-enabled devices found.');
    throw conflict(
      `MIG mode is disabled on GPU ${gpu.uuid}${gpu.migMode.pending ? ' (enabled after the next GPU reset)' : ''}`,
      'MIG_DISABLED',
    );
  }
  assertOnline(deps, node);
  const command = await deps.commands.run(base);
  const instance = outcome(command);
  if (!instance) throw new Error(`MIG command ${command.id} succeeded without an instance`);
  return instance;
}

export async function destroyMigInstance(
  deps: GpuAgentDeps,
  principal: Principal,
  input: { gpuUuid: string; gpuInstanceId: number },
): Promise<true> {
  if (!Number.isInteger(input.gpuInstanceId) || input.gpuInstanceId < 0) {
    throw badInput('gpuInstanceId must be a non-negative integer', { field: 'gpuInstanceId' });
  }
  const { node, gpu } = findGpu(deps, principal, input.gpuUuid);
  const base = {
    organizationId: principal.organizationId,
    nodeId: node.id,
    gpuUuid: gpu.uuid,
    kind: 'DESTROY' as const,
    gpuInstanceId: input.gpuInstanceId,
    requestedBy: principal.subject,
  };
  if (!gpu.migInstances.some((i) => i.gpuInstanceId === input.gpuInstanceId)) {
    await deps.commands.recordRefusal(base, 'INSTANCE_NOT_FOUND', 'No such GPU instance');
    throw notFound(`MIG instance ${input.gpuInstanceId} on GPU ${gpu.uuid}`);
  }
  assertOnline(deps, node);
  outcome(await deps.commands.run(base));
  return true;
}

function findGpu(deps: GpuAgentDeps, principal: Principal, uuid: string) {
  const found = deps.fleet.gpu(principal.organizationId, uuid);
  if (!found) throw notFound(`GPU ${uuid}`);
  return found;
}

function assertOnline(deps: GpuAgentDeps, node: Parameters<GpuAgentDeps['fleet']['online']>[0]) {
  if (!deps.fleet.online(node)) {
    throw conflict(
      `GPU node ${node.hostname} is offline (last seen ${node.lastSeenAt.toISOString()}); MIG changes need its agent`,
      'NODE_OFFLINE',
    );
  }
}

const reasonCodes: Record<
  MigFailureReason,
  'CONFLICT' | 'BAD_USER_INPUT' | 'NOT_FOUND' | 'FORBIDDEN'
> = {
  INSUFFICIENT_RESOURCES: 'CONFLICT',
  MIG_DISABLED: 'CONFLICT',
  MIG_NOT_SUPPORTED: 'CONFLICT',
  IN_USE: 'CONFLICT',
  UNKNOWN_PROFILE: 'BAD_USER_INPUT',
  GPU_NOT_FOUND: 'NOT_FOUND',
  INSTANCE_NOT_FOUND: 'NOT_FOUND',
  PERMISSION_DENIED: 'CONFLICT',
  COMMAND_FAILED: 'CONFLICT',
};

/** The created instance of a finished command, or the node's refusal as an error with its reason. */
function outcome(command: MigCommand): MigInstanceState | null {
  if (command.status === 'SUCCEEDED') return command.result as MigInstanceState | null;
  const reason = (command.failureReason ?? 'COMMAND_FAILED') as MigFailureReason;
  const where =
    command.kind === 'CREATE'
      ? `create ${command.profile}`
      : `destroy GPU instance ${command.gpuInstanceId}`;
  const message =
    command.status === 'EXPIRED'
      ? `Could not ${where}: ${command.message ?? 'the node did not answer'}`
      : `The GPU refused to ${where}: ${command.message ?? reason}`;
  throw new DomainError(reasonCodes[reason] ?? 'CONFLICT', message, {
    reason: command.status === 'EXPIRED' ? 'NODE_TIMEOUT' : reason,
    operationId: command.id,
  });
}
