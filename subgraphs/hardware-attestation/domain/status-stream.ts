import type { EventBus } from '../../../platform/events/index.ts';
import { hardwareAttestationStatusTopic } from '../../../platform/events/topics.ts';
import { notFound } from '../../../platform/errors.ts';
import { EventQueue } from '../../../platform/subscriptions/event-queue.ts';
import type { PrismaClient } from '../../../generated/prisma/hardware-attestation/client.ts';
import { isUuid } from './lifecycle.ts';
import { outboxSequenceOf } from './outbox.ts';
import { recordFromEvent, type AttestationRecord } from './records.ts';

/** How many attestations a subscriber remembers the last delivered outbox sequence of. */
const replayWindow = 10_000;

/**
 * The `hardwareAttestationUpdated` stream of one subscriber: every status event on the bus for an
 * attestation of `organizationId` — checked on each event here, in the subgraph that owns
 * attestations — and of `id` when given. Status changes must not be skipped, so a subscriber that
 * falls `limit` events behind is closed rather than silently losing some. The outbox publishes at
 * least once; a batch it re-publishes (after losing the database between publishing and marking
 * it published) is dropped here, by each attestation's outbox sequence, so a subscriber sees every
 * change once and in order.
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
  // Last sequence delivered per attestation, for the most recently changed ones only: a replay
  // follows its original within the outbox's retry interval, long before this many others change.
  const delivered = new Map<string, bigint>();
  const subscription = await events.subscribe(hardwareAttestationStatusTopic, (payload) => {
    const record = recordFromEvent(payload);
    if (!record || record.organizationId !== organizationId) return;
    if (id !== null && record.id !== id) return;
    const sequence = outboxSequenceOf(payload);
    if (sequence !== null) {
      const last = delivered.get(record.id);
      if (last !== undefined && sequence <= last) return;
      delivered.delete(record.id);
      delivered.set(record.id, sequence);
      if (delivered.size > replayWindow) delivered.delete(delivered.keys().next().value!);
    }
    queue.push({ hardwareAttestationUpdated: record });
  });
  unsubscribe = subscription;
  if (ended) await subscription();
  return queue;
}
