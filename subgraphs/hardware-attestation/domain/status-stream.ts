import type { EventBus } from '../../../platform/events/index.ts';
import { hardwareAttestationStatusTopic } from '../../../platform/events/topics.ts';
import { notFound } from '../../../platform/errors.ts';
import { EventQueue } from '../../../platform/subscriptions/event-queue.ts';
import type { PrismaClient } from '../../../generated/prisma/hardware-attestation/client.ts';
import { isUuid } from './lifecycle.ts';
import { recordFromEvent, type AttestationRecord } from './records.ts';

/**
 * The `hardwareAttestationUpdated` stream of one subscriber: every status event on the bus for an
 * attestation of `organizationId` — checked on each event here, in the subgraph that owns
 * attestations — and of `id` when given. Status changes must not be skipped, so a subscriber that
 * falls `limit` events behind is closed rather than silently losing some.
 */
export async function attestationStatusStream(
  events: EventBus,
  prisma: PrismaClient,
  organizationId: string,
  id: string | null,
  options: { limit: number },
): Promise<AsyncIterableIterator<{ hardwareAttestationUpdated: AttestationRecord }>> {
  if (id !== null) {
    const exists = isUuid(id)
      ? await prisma.attestation.count({ where: { id, organizationId } })
      : 0;
    if (exists === 0) throw notFound('Hardware attestation');
  }
  let unsubscribe: (() => Promise<void>) | null = null;
  let ended = false;
  const queue = new EventQueue<{ hardwareAttestationUpdated: AttestationRecord }>({
    limit: options.limit,
    policy: 'close',
    onEnd: () => {
      ended = true;
      void unsubscribe?.();
    },
  });
  const subscription = await events.subscribe(hardwareAttestationStatusTopic, (payload) => {
    const record = recordFromEvent(payload);
    if (!record || record.organizationId !== organizationId) return;
    if (id !== null && record.id !== id) return;
    queue.push({ hardwareAttestationUpdated: record });
  });
  unsubscribe = subscription;
  if (ended) await subscription();
  return queue;
}
