import type { AgentCommand, CommandOutcome } from '../fleet/mig-commands.ts';
import type { NodeSnapshot } from '../model.ts';

/**
 * An answer from the subgraph that was not a success, with its code and message; status 0 when
 * the subgraph could not be reached at all.
 */
export class FleetLinkError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'FleetLinkError';
  }

  /** Worth trying again later: the service is down, overloaded or restarting. */
  get transient(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/** How a node agent talks to the gpu-agent subgraph (gpu-agent/fleet/agent-routes.ts). */
export interface FleetLink {
  enroll(hostname: string): Promise<{ nodeId: string; intervalSeconds: number }>;
  publishSnapshot(nodeId: string, snapshot: NodeSnapshot): Promise<void>;
  /** Long poll: resolves with the commands waiting for the node, or none after `waitSeconds`. */
  pollCommands(nodeId: string, waitSeconds: number, signal: AbortSignal): Promise<AgentCommand[]>;
  reportResult(
    nodeId: string,
    commandId: string,
    outcome: CommandOutcome,
    snapshot: NodeSnapshot | null,
  ): Promise<void>;
}

/**
 * The HTTP client of the agent protocol. `credential` is called before each request so a token
 * source can refresh; an API key (`lb_…`) is simply returned as is.
 */
export function createHttpFleetLink(options: {
  /** The gpu-agent subgraph's base URL, e.g. http://gpu-agent:4006 (a trailing /graphql is ignored). */
  endpoint: string;
  credential: () => string | Promise<string>;
  requestTimeoutMs?: number;
}): FleetLink {
  const base = options.endpoint.replace(/\/graphql\/?$/, '').replace(/\/$/, '');
  const timeoutMs = options.requestTimeoutMs ?? 15_000;

  async function call<T>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    extra: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<T | null> {
    const signals = [AbortSignal.timeout(extra.timeoutMs ?? timeoutMs)];
    if (extra.signal) signals.push(extra.signal);
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${await options.credential()}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.any(signals),
      });
    } catch (error) {
      if (extra.signal?.aborted) throw error;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new FleetLinkError(0, 'UNREACHABLE', `${base} is unreachable (${reason})`);
    }
    if (response.status === 204) return null;
    const parsed = (await response.json().catch(() => null)) as
      (T & { error?: { code?: string; message?: string } }) | null;
    if (!response.ok) {
      throw new FleetLinkError(
        response.status,
        parsed?.error?.code ?? 'HTTP_ERROR',
        parsed?.error?.message ?? `HTTP ${response.status} from ${path}`,
      );
    }
    return parsed;
  }

  return {
    async enroll(hostname) {
      const answer = await call<{ nodeId: string; intervalSeconds: number }>(
        'POST',
        '/agent/v1/enroll',
        { hostname },
      );
      if (!answer) throw new FleetLinkError(502, 'EMPTY_ANSWER', 'enroll answered no body');
      return answer;
    },
    async publishSnapshot(nodeId, snapshot) {
      await call('POST', `/agent/v1/nodes/${nodeId}/snapshot`, { snapshot });
    },
    async pollCommands(nodeId, waitSeconds, signal) {
      const answer = await call<{ commands: AgentCommand[] }>(
        'GET',
        `/agent/v1/nodes/${nodeId}/commands?waitSeconds=${waitSeconds}`,
        undefined,
        { signal, timeoutMs: (waitSeconds + 10) * 1000 },
      );
      return answer?.commands ?? [];
    },
    async reportResult(nodeId, commandId, outcome, snapshot) {
      await call('POST', `/agent/v1/nodes/${nodeId}/commands/${commandId}/result`, {
        outcome,
        ...(snapshot ? { snapshot } : {}),
      });
    },
  };
}
