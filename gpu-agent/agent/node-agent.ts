import type { Logger } from '../../platform/logger.ts';
import { MigCommandError } from '../errors.ts';
import type { AgentCommand, CommandOutcome } from '../fleet/mig-commands.ts';
import type { GpuSource, NodeSnapshot } from '../model.ts';
import { FleetLinkError, type FleetLink } from './fleet-link.ts';

export interface NodeAgent {
  nodeId: string;
  /** Collects and publishes now (also what each heartbeat does). */
  report(): Promise<void>;
  stop(): Promise<void>;
}

const pollWaitSeconds = 25;
const maxBackoffMs = 30_000;

/**
 * The agent on one GPU node: enrolls, publishes a snapshot every interval (the heartbeat), and
 * runs the MIG commands the subgraph routes to it. Commands run one at a time, in order, and each
 * answer carries a fresh snapshot so callers see the new layout as soon as the mutation returns.
 * A source that fails (nvidia-smi hung or broken) skips that heartbeat: the node turns offline
 * after missed heartbeats instead of showing invented numbers.
 */
export async function startNodeAgent(options: {
  source: GpuSource;
  link: FleetLink;
  hostname: string;
  logger: Logger;
  /** Overrides the interval the subgraph suggests at enrollment. */
  intervalSeconds?: number;
}): Promise<NodeAgent> {
  const { source, link, hostname } = options;
  const logger = options.logger.child({ component: 'node-agent', hostname });
  const enrolled = await enrollWithRetry(link, hostname, logger);
  const nodeId = enrolled.nodeId;
  const intervalMs = (options.intervalSeconds ?? enrolled.intervalSeconds) * 1000;
  const stopping = new AbortController();
  let commandChain: Promise<void> = Promise.resolve();

  const collect = async (): Promise<NodeSnapshot> => ({ ...(await source.collect()), hostname });

  const report = async () => {
    const snapshot = await collect();
    await link.publishSnapshot(nodeId, snapshot);
  };

  const heartbeat = async () => {
    while (!stopping.signal.aborted) {
      await report().catch((err: unknown) => logger.warn({ err }, 'heartbeat failed'));
      await sleep(intervalMs, stopping.signal);
    }
  };

  const execute = async (command: AgentCommand): Promise<CommandOutcome> => {
    try {
      if (command.kind === 'CREATE') {
        const instance = await source.createMigInstance(command.gpuUuid, command.profile ?? '');
        return { ok: true, instance };
      }
      await source.destroyMigInstance(command.gpuUuid, command.gpuInstanceId ?? -1);
      return { ok: true };
    } catch (error) {
      if (error instanceof MigCommandError) {
        return { ok: false, reason: error.reason, message: error.message };
      }
      logger.error({ err: error, commandId: command.id }, 'MIG command crashed');
      return {
        ok: false,
        reason: 'COMMAND_FAILED',
        message: error instanceof Error ? error.message : String(error),
      };
    }
  };

  const runCommand = async (command: AgentCommand) => {
    const log = logger.child({
      commandId: command.id,
      kind: command.kind,
      gpuUuid: command.gpuUuid,
    });
    const started = Date.now();
    const outcome = await execute(command);
    const snapshot = await collect().catch((err: unknown) => {
      log.warn({ err }, 'no snapshot after the command');
      return null;
    });
    log.info({ ok: outcome.ok, ms: Date.now() - started }, 'MIG command executed');
    await link.reportResult(nodeId, command.id, outcome, snapshot);
  };

  const commandLoop = async () => {
    let backoffMs = 1_000;
    while (!stopping.signal.aborted) {
      try {
        const commands = await link.pollCommands(nodeId, pollWaitSeconds, stopping.signal);
        for (const command of commands) {
          commandChain = commandChain.then(() =>
            runCommand(command).catch((err: unknown) =>
              logger.error({ err, commandId: command.id }, 'could not report a command result'),
            ),
          );
        }
        await commandChain;
        backoffMs = 1_000;
      } catch (error) {
        if (stopping.signal.aborted) break;
        logger.warn({ err: error, retryInMs: backoffMs }, 'command poll failed');
        await sleep(backoffMs, stopping.signal);
        backoffMs = Math.min(backoffMs * 2, maxBackoffMs);
      }
    }
  };

  const loops = Promise.all([heartbeat(), commandLoop()]);
  logger.info({ nodeId, intervalMs, source: source.kind }, 'GPU node agent started');
  return {
    nodeId,
    report,
    async stop() {
      stopping.abort();
      await loops;
      await commandChain;
      await source.close();
    },
  };
}

/**
 * Enrolls, waiting out a gpu-agent service that is not up yet (a DaemonSet often starts first) with
 * backoff; a refusal (bad key, too weak a role, bad host name) fails at once with its reason.
 */
async function enrollWithRetry(
  link: FleetLink,
  hostname: string,
  logger: Logger,
): Promise<{ nodeId: string; intervalSeconds: number }> {
  let backoffMs = 1_000;
  for (;;) {
    try {
      return await link.enroll(hostname);
    } catch (error) {
      if (!(error instanceof FleetLinkError) || !error.transient) throw error;
      logger.warn({ err: error.message, retryInMs: backoffMs }, 'enrollment failed; retrying');
      await sleep(backoffMs, new AbortController().signal);
      backoffMs = Math.min(backoffMs * 2, maxBackoffMs);
    }
  }
}

/** Waits `ms`, or less when `signal` aborts; leaves no listener behind on the long-lived signal. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
