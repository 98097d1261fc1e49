import type { EventBus } from '../../platform/events/index.ts';
import { gpuCommandCompletedTopic, gpuNodeCommandsTopic } from '../../platform/events/topics.ts';
import type { Logger } from '../../platform/logger.ts';
import type { MigCommand, Prisma, PrismaClient } from '../../generated/prisma/gpu-agent/client.ts';
import type { MigFailureReason } from '../errors.ts';
import type { MigInstanceState } from '../model.ts';

/** What an agent receives: one MIG change to run on its node. */
export interface AgentCommand {
  id: string;
  kind: 'CREATE' | 'DESTROY';
  gpuUuid: string;
  profile: string | null;
  gpuInstanceId: number | null;
}

/** What an agent answers after running a command. */
export type CommandOutcome =
  | { ok: true; instance?: MigInstanceState | null }
  | { ok: false; reason: MigFailureReason; message: string };

const pollFallbackMs = 1_000;

/**
 * MIG changes as durable commands. The mutation writes a PENDING row (which is also the audit
 * log), wakes the node's agent through the event bus, and waits for the row to finish; the agent
 * claims rows over HTTP on whichever replica it polls. The database is the source of truth and
 * events only shorten waits, so a lost event delays a command by a poll interval, never loses it.
 * A command nobody claimed in time is EXPIRED atomically, so it can never run after the caller
 * was told it failed.
 */
export class MigCommandQueue {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly events: EventBus,
    private readonly logger: Logger,
    private readonly timeoutMs: number,
  ) {}

  /** Records a refusal decided without the node (unknown GPU instance, MIG off) in the audit log. */
  async recordRefusal(
    input: Prisma.MigCommandUncheckedCreateInput,
    reason: MigFailureReason,
    message: string,
  ): Promise<MigCommand> {
    const now = new Date();
    return this.prisma.migCommand.create({
      data: { ...input, status: 'FAILED', failureReason: reason, message, completedAt: now },
    });
  }

  /** Queues a command for its node and waits until the node answered or the timeout passed. */
  async run(input: Prisma.MigCommandUncheckedCreateInput): Promise<MigCommand> {
    const command = await this.prisma.migCommand.create({ data: { ...input, status: 'PENDING' } });
    this.logger.info(
      {
        commandId: command.id,
        nodeId: command.nodeId,
        kind: command.kind,
        gpuUuid: command.gpuUuid,
      },
      'MIG command queued',
    );
    return this.awaitCompletion(command, () =>
      this.events.publish(gpuNodeCommandsTopic, { nodeId: command.nodeId }),
    );
  }

  private async awaitCompletion(
    command: MigCommand,
    announce: () => Promise<void>,
  ): Promise<MigCommand> {
    const deadline = command.requestedAt.getTime() + this.timeoutMs;
    const waiter = await subscribeWaiter(
      this.events,
      gpuCommandCompletedTopic,
      (payload) => (payload as { commandId?: unknown }).commandId === command.id,
    );
    try {
      await announce().catch((err: unknown) =>
        this.logger.warn(
          { err, commandId: command.id },
          'command announcement failed; the agent will find it on its next poll',
        ),
      );
      for (;;) {
        const row = await this.prisma.migCommand.findUniqueOrThrow({ where: { id: command.id } });
        if (row.status !== 'PENDING' && row.status !== 'RUNNING') return row;
        const left = deadline - Date.now();
        if (left <= 0) return await this.expire(row);
        await waiter.wait(Math.min(left, pollFallbackMs));
      }
    } finally {
      await waiter.close();
    }
  }

  /** PENDING → EXPIRED so it never runs; a RUNNING command is left to finish and be recorded. */
  private async expire(row: MigCommand): Promise<MigCommand> {
    const message = `The node did not answer within ${Math.round(this.timeoutMs / 1000)} s`;
    await this.prisma.migCommand.updateMany({
      where: { id: row.id, status: 'PENDING' },
      data: {
        status: 'EXPIRED',
        completedAt: new Date(),
        failureReason: 'COMMAND_FAILED',
        message,
      },
    });
    const current = await this.prisma.migCommand.findUniqueOrThrow({ where: { id: row.id } });
    if (current.status === 'RUNNING') {
      return {
        ...current,
        status: 'EXPIRED',
        failureReason: 'COMMAND_FAILED',
        message: `${message}; it is still running there and its outcome will be in the audit log`,
      };
    }
    return current;
  }

  /**
   * Hands the node's pending commands to its agent, waiting up to `waitMs` for one to arrive
   * (long poll). Each row is claimed with a conditional update, so two polls never both get it.
   */
  async claim(nodeId: string, waitMs: number, signal?: AbortSignal): Promise<AgentCommand[]> {
    const claimed = await this.claimPending(nodeId);
    if (claimed.length > 0 || waitMs <= 0) return claimed;
    const waiter = await subscribeWaiter(
      this.events,
      gpuNodeCommandsTopic,
      (payload) => (payload as { nodeId?: unknown }).nodeId === nodeId,
    );
    try {
      const deadline = Date.now() + waitMs;
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0 || signal?.aborted) return [];
        await waiter.wait(Math.min(left, pollFallbackMs * 5), signal);
        const found = await this.claimPending(nodeId);
        if (found.length > 0) return found;
      }
    } finally {
      await waiter.close();
    }
  }

  private async claimPending(nodeId: string): Promise<AgentCommand[]> {
    const pending = await this.prisma.migCommand.findMany({
      where: { nodeId, status: 'PENDING' },
      orderBy: { requestedAt: 'asc' },
      take: 16,
    });
    const claimed: AgentCommand[] = [];
    const staleBefore = Date.now() - this.timeoutMs;
    for (const row of pending) {
      // The caller has already been told it failed (or its replica died waiting): never run it.
      if (row.requestedAt.getTime() < staleBefore) {
        await this.expire(row);
        continue;
      }
      const { count } = await this.prisma.migCommand.updateMany({
        where: { id: row.id, status: 'PENDING' },
        data: { status: 'RUNNING', startedAt: new Date() },
      });
      if (count === 1) {
        claimed.push({
          id: row.id,
          kind: row.kind,
          gpuUuid: row.gpuUuid,
          profile: row.profile,
          gpuInstanceId: row.gpuInstanceId,
        });
      }
    }
    return claimed;
  }

  /** Records what the node answered and wakes the waiting mutation. False when not RUNNING on `nodeId`. */
  async complete(nodeId: string, commandId: string, outcome: CommandOutcome): Promise<boolean> {
    const data: Prisma.MigCommandUpdateManyMutationInput = outcome.ok
      ? {
          status: 'SUCCEEDED',
          completedAt: new Date(),
          ...(outcome.instance
            ? {
                result: outcome.instance as unknown as Prisma.InputJsonValue,
                gpuInstanceId: outcome.instance.gpuInstanceId,
              }
            : {}),
        }
      : {
          status: 'FAILED',
          completedAt: new Date(),
          failureReason: outcome.reason,
          message: outcome.message.slice(0, 2_000),
        };
    const { count } = await this.prisma.migCommand.updateMany({
      where: { id: commandId, nodeId, status: 'RUNNING' },
      data,
    });
    if (count === 0) return false;
    this.logger.info({ commandId, nodeId, ok: outcome.ok }, 'MIG command finished');
    await this.events
      .publish(gpuCommandCompletedTopic, { commandId })
      .catch((err: unknown) =>
        this.logger.warn({ err, commandId }, 'completion event not published'),
      );
    return true;
  }
}

/**
 * A subscription to `topic` that turns matching events into wake-ups: `wait` resolves after `ms`,
 * on abort, or at the first matching event, including one that arrived since the last wait (so an
 * event between a database read and the next wait is not slept through).
 */
async function subscribeWaiter(
  events: EventBus,
  topic: string,
  matches: (payload: unknown) => boolean,
): Promise<{ wait(ms: number, signal?: AbortSignal): Promise<void>; close(): Promise<void> }> {
  let woken = false;
  let wake: () => void = () => {
    woken = true;
  };
  const close = await events.subscribe(topic, (payload) => {
    if (matches(payload)) wake();
  });
  return {
    close,
    wait(ms, signal) {
      if (woken || signal?.aborted) {
        woken = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          wake = () => {
            woken = true;
          };
          resolve();
        };
        const timer = setTimeout(done, ms);
        wake = done;
        signal?.addEventListener('abort', done, { once: true });
      });
    },
  };
}
