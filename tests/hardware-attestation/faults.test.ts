import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hardwareAttestationStatusTopic } from '../../platform/events/topics.ts';
import type { ObjectStore } from '../../platform/objects/index.ts';
import {
  startHardwareAttestation,
  type HardwareAttestationService,
} from '../../subgraphs/hardware-attestation/index.ts';
import { reportKey } from '../../subgraphs/hardware-attestation/domain/pipeline.ts';
import { submitAttestation, waitForFinal, pollingRateLimit } from '../support/attestation.ts';
import { backends } from '../support/config.ts';
import { brokenObjectStore } from '../support/broken-objects.ts';
import {
  createApiKey,
  enrollSimulatedNode,
  gpuAgentUrl,
  type SimulatedNode,
} from '../support/gpu.ts';
import { collect, subscriptionClient } from '../support/subscriptions.ts';
import {
  signUp,
  startTestSupergraph,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';

// Short leases and few attempts so a dead worker's jobs come back, and a store that stays down
// ends in ERROR, within a test's time.
const maxAttempts = 4;

let supergraph: TestSupergraph;
let tenant: SignedUp;
let operatorKey: string;
let node: SimulatedNode;
let gpus: string[];
/** Every status event on the bus, as published (the bus outlives the subgraph restarts). */
const busEvents: { id: string; status: string; sequence: string }[] = [];

function service(): HardwareAttestationService {
  const found = supergraph.subgraphs.find((s) => s.name === 'hardware-attestation');
  if (!found) throw new Error('hardware-attestation is not running');
  return found as HardwareAttestationService;
}

/** Status changes of one attestation as its audit trail records them. */
async function auditedStatuses(id: string): Promise<string[]> {
  const rows = await service().deps.prisma.auditEntry.findMany({
    where: { attestationId: id, action: 'attestation.status' },
    orderBy: { id: 'asc' },
  });
  return rows.map((row) => (row.detail as { status: string }).status);
}

function outboxOf(id: string) {
  return service().deps.prisma.outboxEvent.findMany({
    where: { payload: { path: ['id'], equals: id } },
    orderBy: { id: 'asc' },
  });
}

/** Checks the "exactly once" promise for each attestation: statuses, events and report. */
async function expectExactlyOnce(ids: string[], objects: ObjectStore): Promise<void> {
  const finals = new Map<string, Awaited<ReturnType<typeof waitForFinal>>>();
  for (const id of ids) finals.set(id, await waitForFinal(supergraph, operatorKey, id, 30_000));
  await service().deps.outbox.drain();
  for (const id of ids) {
    const final = finals.get(id)!;
    const statuses = await auditedStatuses(id);
    expect(statuses).toEqual(['PENDING', 'RUNNING', final.status]);
    // One outbox entry per status change, every one of them published: the last within the
    // outbox's retry interval (a flush that met a dropped connection tries again on its timer).
    const published = Date.now() + 10_000;
    let outbox = await outboxOf(id);
    while (!outbox.every((row) => row.publishedAt !== null) && Date.now() < published) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      outbox = await outboxOf(id);
    }
    expect(outbox.map((row) => (row.payload as { status: string }).status)).toEqual(statuses);
    expect(outbox.every((row) => row.publishedAt !== null)).toBe(true);
    if (final.status !== 'ERROR') {
      expect(
        await objects.head(reportKey({ organizationId: tenant.organization.id, id })),
      ).not.toBeNull();
    }
  }
  // Events on the bus: every status change, in order. The outbox publishes at least once: a
  // connection dropped between publishing a batch and marking it published sends that batch again,
  // with the same outbox sequences, so with replays set aside (as the status stream does) nothing
  // is missing or out of order.
  const deadline = Date.now() + 5_000;
  for (;;) {
    const seen = ids.map((id) => {
      let last = -1n;
      const statuses: string[] = [];
      for (const event of busEvents.filter((e) => e.id === id)) {
        const sequence = BigInt(event.sequence);
        if (sequence <= last) continue;
        last = sequence;
        statuses.push(event.status);
      }
      return statuses;
    });
    const complete = seen.every((statuses) => statuses.length >= 3);
    if (complete || Date.now() > deadline) {
      for (const [index, id] of ids.entries()) {
        expect(seen[index], `bus events of ${id}`).toEqual(await auditedStatuses(id));
      }
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function restartService(options: { killWorkers: boolean }): Promise<void> {
  const previous = service();
  const index = supergraph.subgraphs.indexOf(previous);
  // A worker that is killed neither finishes nor releases its jobs: their leases run out.
  if (options.killWorkers) await previous.pipeline.stop(0);
  await previous.stop();
  supergraph.subgraphs[index] = await startHardwareAttestation(
    supergraph.runtime,
    { host: '127.0.0.1', port: previous.port },
    { identityUrl: supergraph.identity.url, gpuAgentUrl: gpuAgentUrl(supergraph) },
  );
}

async function submitMany(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const gpuUuid = gpus[i % gpus.length] ?? '';
    ids.push((await submitAttestation(supergraph, operatorKey, { gpuUuid })).id);
  }
  return ids;
}

beforeAll(async () => {
  supergraph = await startTestSupergraph({
    RATE_LIMIT_FREE: pollingRateLimit,
    ATTESTATION_LEASE_SECONDS: '2',
    ATTESTATION_MAX_ATTEMPTS: String(maxAttempts),
    ATTESTATION_WORKERS: '2',
  });
  await supergraph.runtime.events.subscribe(hardwareAttestationStatusTopic, (payload) => {
    const { id, status, outboxSequence } = payload as {
      id: string;
      status: string;
      outboxSequence: string;
    };
    busEvents.push({ id, status, sequence: outboxSequence });
  });
  tenant = await signUp(supergraph, 'faults');
  operatorKey = await createApiKey(supergraph, tenant.accessToken, 'OPERATOR');
  node = await enrollSimulatedNode(supergraph, operatorKey, 'faults-node', [
    { model: 'H100-80GB', migEnabled: false, confidentialComputeMode: 'ON' },
    { model: 'H100-80GB', migEnabled: false, confidentialComputeMode: 'ON' },
  ]);
  gpus = [...node.source.gpuUuids];
}, 120_000);

afterAll(async () => {
  await node?.agent.stop();
  await supergraph?.stop();
});

describe(`attestation pipeline faults (${backends.database}, ${backends.events}, ${backends.objects})`, () => {
  it('workers killed mid-job: a restarted replica finishes every accepted attestation exactly once', async () => {
    const ids = await submitMany(12);
    // Kill as soon as a worker has claimed something, while most jobs are still in flight.
    const deadline = Date.now() + 10_000;
    while (!busEvents.some((e) => ids.includes(e.id) && e.status === 'RUNNING')) {
      if (Date.now() > deadline) throw new Error('no job was ever claimed');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await restartService({ killWorkers: true });
    await expectExactlyOnce(ids, supergraph.runtime.objects);
    const finals = await Promise.all(ids.map((id) => waitForFinal(supergraph, operatorKey, id)));
    expect(finals.every((f) => f.status === 'VERIFIED')).toBe(true);
  });

  it.runIf(backends.database === 'postgresql')(
    'every database connection dropped mid-run (as in a PostgreSQL restart): nothing lost, nothing twice',
    async () => {
      const ids = await submitMany(12);
      const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await admin.connect();
      try {
        const schema = supergraph.runtime.config.DATABASE_SCHEMA_PREFIX;
        const killed = await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE application_name LIKE $1 AND pid <> pg_backend_pid()`,
          [`lotabots ${schema}hardware%`],
        );
        expect(killed.rowCount).toBeGreaterThan(0);
      } finally {
        await admin.end();
      }
      await expectExactlyOnce(ids, supergraph.runtime.objects);
    },
  );

  it.runIf(backends.database === 'pglite')(
    'the embedded database restarted with its subgraph mid-run: nothing lost, nothing twice',
    async () => {
      const ids = await submitMany(12);
      await restartService({ killWorkers: false });
      await expectExactlyOnce(ids, supergraph.runtime.objects);
    },
  );

  describe('the object store fails', () => {
    let broken: ObjectStore;
    let healthy: ObjectStore;

    beforeAll(() => {
      healthy = service().deps.objects;
      broken = brokenObjectStore();
    });

    afterAll(async () => {
      service().deps.objects = healthy;
      await broken.close();
    });

    it('while it is down attestations wait in RUNNING and retry; once it is back each ends VERIFIED with one report, subscribers see each change once', async () => {
      const subscriber = subscriptionClient(supergraph.baseUrl, tenant.accessToken);
      const events = collect<{ hardwareAttestationUpdated: { id: string; status: string } }>(
        subscriber,
        'subscription { hardwareAttestationUpdated { id status } }',
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
      service().deps.objects = broken;
      const ids = await submitMany(4);
      await new Promise((resolve) => setTimeout(resolve, 700));
      const waiting = await service().deps.prisma.attestationJob.findMany({
        where: { attestationId: { in: ids } },
      });
      expect(waiting.every((job) => job.doneAt === null && job.attempts >= 1)).toBe(true);
      expect(waiting.some((job) => job.lastError !== null)).toBe(true);
      service().deps.objects = healthy;
      await expectExactlyOnce(ids, healthy);
      const finals = await Promise.all(ids.map((id) => waitForFinal(supergraph, operatorKey, id)));
      expect(finals.map((f) => f.status)).toEqual(ids.map(() => 'VERIFIED'));
      const report = (await (await fetch(finals[0]?.reportUrl ?? '')).json()) as {
        attestationId: string;
      };
      expect(report.attestationId).toBe(ids[0]);
      await events.waitFor(ids.length * 3, 10_000);
      for (const id of ids) {
        expect(
          events.results
            .map((r) => r.data?.hardwareAttestationUpdated)
            .filter((u) => u?.id === id)
            .map((u) => u?.status),
        ).toEqual(['PENDING', 'RUNNING', 'VERIFIED']);
      }
      events.stop();
      await subscriber.dispose();
    });

    it(`when it stays down past ${maxAttempts} attempts the attestation ends ERROR with the store's error`, async () => {
      service().deps.objects = broken;
      try {
        const [id] = await submitMany(1);
        const final = await waitForFinal(supergraph, operatorKey, id ?? '', 30_000);
        expect(final.status).toBe('ERROR');
        expect(final.error).toMatch(
          new RegExp(`gave up after ${maxAttempts} attempts; last error: .+`),
        );
        expect(final.token).toBeNull();
        await expectExactlyOnce([id ?? ''], healthy);
      } finally {
        service().deps.objects = healthy;
      }
    });
  });
});
