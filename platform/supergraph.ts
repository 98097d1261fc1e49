import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { createRuntime, type Runtime } from './runtime.ts';
import { gatewayDefaultPort, subgraphModules } from './services.ts';
import type { RunningService } from './subgraph-server.ts';
import { startGateway } from '../gateway/index.ts';
import type { IdentityService } from '../subgraphs/identity/index.ts';
import { ensureDemoAccount, type DemoAccount } from '../subgraphs/identity/domain/demo.ts';
import { startEmbeddedAgent } from '../gpu-agent/agent/embedded-agent.ts';
import type { NodeAgent } from '../gpu-agent/agent/node-agent.ts';

export interface RunningSupergraph {
  runtime: Runtime;
  gateway: RunningService;
  subgraphs: RunningService[];
  identity: IdentityService;
  /** Where clients connect, e.g. http://localhost:4000/graphql. */
  url: string;
  demo: DemoAccount | null;
  /** The demo organization's GPU node agent (GPU_DEMO_NODE), when one runs. */
  demoNodeAgent: NodeAgent | null;
  stop(): Promise<void>;
}

/**
 * The whole supergraph in one process: every subgraph on a loopback port of its own, then the
 * gateway on HOST:PORT routing to them. Used by `npm start` and by the end-to-end tests, so both
 * exercise the same HTTP path a deployment does.
 */
export async function startSupergraph(
  config: Config,
  logger: Logger,
  options: { seedDemo?: boolean } = {},
): Promise<RunningSupergraph> {
  const runtime = createRuntime(config, logger);
  const subgraphs: RunningService[] = [];
  try {
    await runtime.objects.ensureBucket();
    // Each subgraph starts after the ones it calls (services.ts lists them in that order).
    const peers = {
      identityUrl: '',
      gpuAgentUrl: '',
      resourcesUrl: '',
      hardwareAttestationUrl: '',
      modelAttestationUrl: '',
    };
    for (const module of subgraphModules) {
      const service = await module.start(runtime, { host: '127.0.0.1', port: 0 }, { ...peers });
      if (module.name === 'identity') peers.identityUrl = service.url;
      if (module.name === 'gpu-agent') peers.gpuAgentUrl = service.url;
      if (module.name === 'resources') peers.resourcesUrl = service.url;
      if (module.name === 'hardware-attestation') peers.hardwareAttestationUrl = service.url;
      if (module.name === 'model-attestation') peers.modelAttestationUrl = service.url;
      subgraphs.push(service);
    }
    const identity = subgraphs.find((s) => s.name === 'identity') as IdentityService;
    const gateway = await startGateway(runtime, {
      host: config.HOST,
      port: config.PORT,
      subgraphUrls: Object.fromEntries(subgraphs.map((s) => [s.name, s.url])),
      identityUrl: identity.url,
    });
    const demo =
      options.seedDemo === false
        ? null
        : await ensureDemoAccount(
            identity.deps,
            config.LOTABOTS_DEMO_EMAIL,
            config.LOTABOTS_DEMO_PASSWORD,
          );
    const gpuAgent = subgraphs.find((s) => s.name === 'gpu-agent');
    const demoNodeAgent =
      demo && gpuAgent && config.GPU_DEMO_NODE
        ? await startEmbeddedAgent({
            config,
            logger,
            gpuAgentUrl: gpuAgent.url,
            mintToken: async (ttlSeconds) =>
              (
                await identity.keys.signAccessToken({
                  subject: 'agent:embedded',
                  organizationId: demo.organizationId,
                  role: 'OPERATOR',
                  tier: 'ENTERPRISE',
                  ttlSeconds,
                })
              ).token,
          })
        : null;
    return {
      runtime,
      gateway,
      subgraphs,
      identity,
      url: gateway.url,
      demo,
      demoNodeAgent,
      async stop() {
        await demoNodeAgent?.stop();
        await gateway.stop();
        for (const service of [...subgraphs].reverse()) await service.stop();
        await runtime.close();
      },
    };
  } catch (error) {
    for (const service of [...subgraphs].reverse()) await service.stop().catch(() => undefined);
    await runtime.close();
    throw error;
  }
}

export { gatewayDefaultPort };
