import type { Role } from '../../platform/auth/roles.ts';
import { createLogger } from '../../platform/logger.ts';
import { createHttpFleetLink } from '../../gpu-agent/agent/fleet-link.ts';
import { startNodeAgent, type NodeAgent } from '../../gpu-agent/agent/node-agent.ts';
import {
  createSimulatedSource,
  type SimulatedGpuOptions,
  type SimulatedSource,
} from '../../gpu-agent/simulator/index.ts';
import type { TestSupergraph } from './supergraph.ts';

/** Creates an API key with `role` in the token's organization, through the gateway. */
export async function createApiKey(
  supergraph: TestSupergraph,
  accessToken: string,
  role: Role,
): Promise<string> {
  const created = await supergraph.graphql<{ createApiKey: { secret: string } }>(
    'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }',
    { i: { name: `${role.toLowerCase()} key`, role } },
    accessToken,
  );
  if (!created.data) throw new Error(JSON.stringify(created.errors));
  return created.data.createApiKey.secret;
}

/** The gpu-agent subgraph's own URL (where node agents report), not the gateway's. */
export function gpuAgentUrl(supergraph: TestSupergraph): string {
  const service = supergraph.subgraphs.find((s) => s.name === 'gpu-agent');
  if (!service) throw new Error('gpu-agent subgraph is not running');
  return service.url;
}

export interface SimulatedNode {
  source: SimulatedSource;
  agent: NodeAgent;
}

/**
 * Starts a real node agent for a simulated node, reporting over HTTP with an API key, exactly as
 * `lotabots agent` does on a GPU machine.
 */
export async function enrollSimulatedNode(
  supergraph: TestSupergraph,
  apiKey: string,
  hostname: string,
  gpus: SimulatedGpuOptions[],
  options: { intervalSeconds?: number; driverVersion?: string } = {},
): Promise<SimulatedNode> {
  const source = createSimulatedSource({
    hostname,
    gpus,
    autoProcesses: false,
    ...(options.driverVersion ? { driverVersion: options.driverVersion } : {}),
  });
  const agent = await startNodeAgent({
    source,
    link: createHttpFleetLink({ endpoint: gpuAgentUrl(supergraph), credential: () => apiKey }),
    hostname,
    logger: createLogger(supergraph.runtime.config),
    intervalSeconds: options.intervalSeconds ?? 1,
  });
  await agent.report();
  return { source, agent };
}
