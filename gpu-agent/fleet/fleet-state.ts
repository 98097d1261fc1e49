import type { EventBus, Unsubscribe } from '../../platform/events/index.ts';
import { gpuNodeSnapshotTopic } from '../../platform/events/topics.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Prisma, PrismaClient } from '../../generated/prisma/gpu-agent/client.ts';
import type { GpuState, NodeSnapshot } from '../model.ts';

/** A node as the subgraph serves it: who owns it and the freshest state its agent reported. */
export interface NodeRecord {
  id: string;
  organizationId: string;
  hostname: string;
  lastSeenAt: Date;
  snapshot: NodeSnapshot | null;
}

interface SnapshotEvent {
  id: string;
  organizationId: string;
  hostname: string;
  lastSeenAt: string;
  snapshot: NodeSnapshot | null;
}

/**
 * The fleet as one replica sees it. Every replica keeps the freshest snapshot per node in memory,
 * fed by snapshot events (Redis pub/sub across replicas, in-process otherwise), so `gpuNodes` for
 * a fleet of hundreds of nodes is a map lookup, not a JSON scan in the database. The database holds
 * the same state durably: a new replica loads it at start, and a periodic reload repairs events
 * lost while the bus was down (pub/sub is at most once).
 */
export class FleetState {
  private readonly listeners = new Set<(record: NodeRecord) => void>();
  private readonly byOrganization = new Map<string, Map<string, NodeRecord>>();
  private readonly nodeOfGpu = new Map<string, string>();
  private unsubscribe: Unsubscribe | null = null;
  private reloadTimer: NodeJS.Timeout | null = null;
  /** When this replica last wrote each node's row, and the layout it wrote. */
  private readonly persisted = new Map<string, { at: number; layout: string }>();

  constructor(
    private readonly prisma: PrismaClient,
    private readonly events: EventBus,
    private readonly logger: Logger,
    private readonly offlineAfterMs: number,
    private readonly persistEveryMs = 60_000,
  ) {}

  async start(reloadEveryMs = 30_000): Promise<void> {
    this.unsubscribe = await this.events.subscribe(gpuNodeSnapshotTopic, (payload) => {
      const event = payload as SnapshotEvent;
      this.apply({ ...event, lastSeenAt: new Date(event.lastSeenAt) });
    });
    await this.reload();
    this.reloadTimer = setInterval(
      () =>
        void this.reload().catch((err: unknown) =>
          this.logger.warn({ err }, 'fleet reload failed'),
        ),
      reloadEveryMs,
    );
    this.reloadTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.reloadTimer) clearInterval(this.reloadTimer);
    await this.unsubscribe?.();
  }

  /**
   * Brings this replica up to date with the database. Only rows newer than what it holds (missed
   * events, nodes enrolled elsewhere) are read whole: re-reading every snapshot's JSON every
   * period would stall request handling on a large fleet for nothing.
   */
  async reload(): Promise<void> {
    const stamps = await this.prisma.gpuNode.findMany({
      select: { id: true, organizationId: true, lastSeenAt: true },
    });
    const stale = stamps
      .filter((row) => {
        const held = this.node(row.organizationId, row.id);
        return !held || held.lastSeenAt < row.lastSeenAt;
      })
      .map((row) => row.id);
    if (stale.length === 0) return;
    const rows = await this.prisma.gpuNode.findMany({
      where: { id: { in: stale } },
      select: { id: true, organizationId: true, hostname: true, lastSeenAt: true, snapshot: true },
    });
    for (const row of rows) {
      this.apply({ ...row, snapshot: row.snapshot as NodeSnapshot | null });
    }
  }

  /**
   * Calls `listener` with every newer report this replica accepts, from any replica (events) or
   * the database (reload) — each report once, whichever way it arrived first. Listeners see every
   * organization's nodes: filtering by tenant is the caller's job. Returns the unsubscribe.
   */
  onReport(listener: (record: NodeRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Keeps `record` unless this replica already holds a fresher report for the node. */
  apply(record: NodeRecord): void {
    let nodes = this.byOrganization.get(record.organizationId);
    if (!nodes) {
      nodes = new Map();
      this.byOrganization.set(record.organizationId, nodes);
    }
    const current = nodes.get(record.id);
    if (current && current.lastSeenAt > record.lastSeenAt) return;
    for (const gpu of current?.snapshot?.gpus ?? []) this.nodeOfGpu.delete(gpu.uuid);
    nodes.set(record.id, record);
    for (const gpu of record.snapshot?.gpus ?? []) this.nodeOfGpu.set(gpu.uuid, record.id);
    // A replica hears its own reports back from the bus: the same report is not news twice.
    const news =
      record.snapshot !== null &&
      (!current || current.lastSeenAt.getTime() !== record.lastSeenAt.getTime());
    if (!news) return;
    for (const listener of this.listeners) {
      try {
        listener(record);
      } catch (err) {
        this.logger.error({ err, nodeId: record.id }, 'fleet report listener failed');
      }
    }
  }

  /** The organization's nodes, ordered by hostname. */
  nodesOf(organizationId: string): NodeRecord[] {
    const nodes = [...(this.byOrganization.get(organizationId)?.values() ?? [])];
    return nodes.sort((a, b) => a.hostname.localeCompare(b.hostname));
  }

  /** One node, only when it belongs to `organizationId`. */
  node(organizationId: string, id: string): NodeRecord | null {
    return this.byOrganization.get(organizationId)?.get(id) ?? null;
  }

  /** The GPU with `uuid` and its node, only when the node belongs to `organizationId`. */
  gpu(organizationId: string, uuid: string): { node: NodeRecord; gpu: GpuState } | null {
    const nodeId = this.nodeOfGpu.get(uuid);
    const node = nodeId ? this.node(organizationId, nodeId) : null;
    const gpu = node?.snapshot?.gpus.find((g) => g.uuid === uuid);
    return node && gpu ? { node, gpu } : null;
  }

  online(node: NodeRecord, now = Date.now()): boolean {
    return now - node.lastSeenAt.getTime() <= this.offlineAfterMs;
  }

  /** Enrolls (or finds again) the node `hostname` of an organization. */
  async enroll(organizationId: string, hostname: string, enrolledBy: string): Promise<NodeRecord> {
    const row = await this.prisma.gpuNode.upsert({
      where: { organizationId_hostname: { organizationId, hostname } },
      create: { organizationId, hostname, enrolledBy },
      update: {},
      select: { id: true, organizationId: true, hostname: true, lastSeenAt: true, snapshot: true },
    });
    const record = { ...row, snapshot: row.snapshot as NodeSnapshot | null };
    this.apply(record);
    return record;
  }

  /**
   * Takes an agent's report: every replica gets it through the event bus at once, the database
   * only when something a new replica must not miss changed (the GPUs or their MIG layout), when
   * the node was offline, or every `persistEveryMs`. Writing each heartbeat of a large fleet would
   * cost more than serving it (a 100-node fleet reports 20 times a second), and a replica that
   * starts from a slightly older row is brought up to date by the next heartbeat.
   */
  async report(
    node: NodeRecord,
    snapshot: NodeSnapshot,
    options: { persist?: boolean } = {},
  ): Promise<NodeRecord> {
    const lastSeenAt = new Date();
    const layout = layoutOf(snapshot);
    const persisted = this.persisted.get(node.id);
    const mustPersist =
      options.persist === true ||
      !persisted ||
      persisted.layout !== layout ||
      !this.online(node, lastSeenAt.getTime()) ||
      lastSeenAt.getTime() - persisted.at >= this.persistEveryMs;
    if (mustPersist) {
      await this.prisma.gpuNode.update({
        where: { id: node.id },
        data: { lastSeenAt, snapshot: snapshot as unknown as Prisma.InputJsonValue },
      });
      this.persisted.set(node.id, { at: lastSeenAt.getTime(), layout });
    }
    const record: NodeRecord = { ...node, lastSeenAt, snapshot };
    this.apply(record);
    const event: SnapshotEvent = { ...record, lastSeenAt: lastSeenAt.toISOString() };
    await this.events
      .publish(gpuNodeSnapshotTopic, event)
      .catch((err: unknown) =>
        this.logger.warn({ err, nodeId: node.id }, 'snapshot event not published'),
      );
    return record;
  }
}

/** What must reach the database promptly: which GPUs, MIG modes and MIG instances a node has. */
function layoutOf(snapshot: NodeSnapshot): string {
  return snapshot.gpus
    .map(
      (gpu) =>
        `${gpu.uuid}:${gpu.migMode.current ? 1 : 0}${gpu.migMode.pending ? 1 : 0}:${gpu.migInstances
          .map((i) => `${i.gpuInstanceId}/${i.computeInstanceId ?? '-'}/${i.profile}`)
          .join(',')}`,
    )
    .join(';');
}
