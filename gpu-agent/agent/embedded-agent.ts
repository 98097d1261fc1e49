import { hostname as osHostname } from 'node:os';
import type { Config } from '../../platform/config.ts';
import type { Logger } from '../../platform/logger.ts';
import { createHttpFleetLink } from './fleet-link.ts';
import { startNodeAgent, type NodeAgent } from './node-agent.ts';
import { createGpuSource } from './select-source.ts';

/**
 * The node agent `npm start` runs next to the subgraphs, so the demo organization has a GPU node
 * (this machine's GPUs, or simulated ones) the moment the supergraph is up. It speaks the same
 * HTTP protocol as `lotabots agent` on a GPU machine; instead of an API key it is handed
 * short-lived tokens minted by the identity service running in the same process.
 */
export async function startEmbeddedAgent(options: {
  config: Config;
  logger: Logger;
  gpuAgentUrl: string;
  /** Mints an OPERATOR access token for the demo organization, valid `ttlSeconds`. */
  mintToken: (ttlSeconds: number) => Promise<string>;
}): Promise<NodeAgent> {
  const { config, logger } = options;
  const hostname = config.GPU_AGENT_HOSTNAME ?? osHostname();
  const ttlSeconds = 900;
  let cached: { token: string; renewAt: number } | null = null;
  const credential = async () => {
    if (!cached || cached.renewAt <= Date.now()) {
      cached = {
        token: await options.mintToken(ttlSeconds),
        renewAt: Date.now() + (ttlSeconds - 120) * 1000,
      };
    }
    return cached.token;
  };
  const source = await createGpuSource(config, hostname, logger);
  const agent = await startNodeAgent({
    source,
    link: createHttpFleetLink({ endpoint: options.gpuAgentUrl, credential }),
    hostname,
    logger,
  });
  await agent.report();
  return agent;
}
