import { z } from 'zod';
import type { EventBus, Unsubscribe } from '../../../platform/events/index.ts';
import {
  hardwareAttestationStatusTopic,
  usageRecordedTopic,
} from '../../../platform/events/topics.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { QuotaService } from './quotas.ts';
import { usageEventSchema, type UsageMeter } from './usage.ts';

const usageBatch = z.object({ events: z.array(usageEventSchema).max(10_000) });

const attestationStatus = z.object({
  id: z.string().min(1),
  organizationId: z.string().uuid(),
  status: z.string(),
  completedAt: z.coerce.date().nullish(),
});

const finalStatuses = new Set(['VERIFIED', 'FAILED', 'ERROR']);

/**
 * Feeds the meter from the event bus: the gateway's batched API cost and every attestation that
 * reached a final status (which also ends its CONCURRENT_ATTESTATIONS hold). Every replica hears every event; the meter's event ids make the second
 * hearing (and an outbox's republish) add nothing.
 */
export async function startMetering(
  events: EventBus,
  usage: UsageMeter,
  quotas: QuotaService,
  logger: Logger,
): Promise<Unsubscribe[]> {
  const record = async (batch: Parameters<UsageMeter['record']>[0], what: string) => {
    try {
      await usage.record(batch);
    } catch (err) {
      logger.error({ err, events: batch.length }, `could not meter ${what}`);
    }
  };
  return Promise.all([
    events.subscribe(usageRecordedTopic, async (payload) => {
      const parsed = usageBatch.safeParse(payload);
      if (!parsed.success) {
        logger.warn({ issues: parsed.error.issues.slice(0, 3) }, 'ignored a malformed usage batch');
        return;
      }
      await record(parsed.data.events, 'usage batch');
    }),
    events.subscribe(hardwareAttestationStatusTopic, async (payload) => {
      const parsed = attestationStatus.safeParse(payload);
      if (!parsed.success || !finalStatuses.has(parsed.data.status)) return;
      const { id, organizationId, completedAt } = parsed.data;
      // The attestation no longer runs: its concurrency hold ends (every replica tries; one wins).
      await quotas
        .releaseSubject(organizationId, 'CONCURRENT_ATTESTATIONS', id)
        .catch((err: unknown) =>
          logger.error({ err, attestationId: id }, 'could not release a concurrency hold'),
        );
      await record(
        [
          {
            eventId: `hardware-attestation:${id}`,
            organizationId,
            metric: 'ATTESTATIONS',
            amount: 1,
            at: completedAt ?? new Date(),
          },
        ],
        'attestation',
      );
    }),
  ]);
}
