import { notFound } from '../../platform/errors.ts';
import { EventQueue, type OverflowPolicy } from '../../platform/subscriptions/event-queue.ts';
import type { FleetState, NodeRecord } from '../fleet/fleet-state.ts';

/**
 * The `gpuTelemetry` event stream of one subscriber: every report this replica accepts (from its
 * own agents, other replicas through the bus, or a reload) for a node of `organizationId` — checked
 * on each event here, in the subgraph that owns the nodes — and of `nodeId` when given. Reports
 * queue up to `limit`; past it the oldest are dropped, since only the newest sample matters.
 */
export function telemetryStream(
  fleet: FleetState,
  organizationId: string,
  nodeId: string | null,
  options: { limit: number; policy?: OverflowPolicy },
): AsyncIterableIterator<{ gpuTelemetry: NodeRecord }> {
  if (nodeId !== null && !fleet.node(organizationId, nodeId)) throw notFound('GPU node');
  let unsubscribe = () => {};
  const queue = new EventQueue<{ gpuTelemetry: NodeRecord }>({
    limit: options.limit,
    policy: options.policy ?? 'drop-oldest',
    onEnd: () => unsubscribe(),
  });
  const listener = (record: NodeRecord) => {
    if (record.organizationId !== organizationId) return;
    if (nodeId !== null && record.id !== nodeId) return;
    queue.push({ gpuTelemetry: record });
  };
  const remove = fleet.onReport(listener);
  unsubscribe = () => {
    remove();
  };
  return queue;
}
