#!/usr/bin/env node
import { ConfigError, applyProcessSettings, loadConfig, type Config } from '../platform/config.ts';
import { runDbCommand } from '../platform/db/cli.ts';
import { createLogger, type Logger } from '../platform/logger.ts';
import { createRuntime } from '../platform/runtime.ts';
import {
  gatewayDefaultPort,
  standaloneIdentityUrl,
  standalonePeers,
  subgraphModules,
} from '../platform/services.ts';
import type { RunningService } from '../platform/subgraph-server.ts';
import { startSupergraph } from '../platform/supergraph.ts';
import { startGateway } from '../gateway/index.ts';
import { apiSchemaPath, composeSchemas, readSubgraphs, supergraphPath } from '../schema/compose.ts';
import { relative } from 'node:path';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { createHttpFleetLink, FleetLinkError } from '../gpu-agent/agent/fleet-link.ts';
import { startNodeAgent } from '../gpu-agent/agent/node-agent.ts';
import { createGpuSource } from '../gpu-agent/agent/select-source.ts';

const usage = `Usage: lotabots <command>

  start                 every subgraph and the gateway in one process (embedded defaults)
  start <service>       one service alone: gateway | ${subgraphModules.map((m) => m.name).join(' | ')}
  db migrate …          database migrations (see "lotabots db --help")
  compose [--check]     compose schema/supergraph.graphql from the subgraphs' SDL
  keys rotate           rotate the identity service's token-signing key
  agent                 the GPU node agent: reads this node's GPUs (GPU_SOURCE) and reports to
                        GPU_AGENT_ENDPOINT with GPU_AGENT_API_KEY (an OPERATOR key)
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help') {
    process.stdout.write(usage);
    return command ? 0 : 2;
  }
  if (command === 'compose') return compose(rest.includes('--check'));

  const config = loadConfig(undefined, { needsSecret: command !== 'agent' });
  applyProcessSettings(config);
  const logger = createLogger(config);
  switch (command) {
    case 'start':
      return start(rest[0], config, logger);
    case 'agent':
      return agent(config, logger);
    case 'db':
      return runDbCommand(rest, config, logger);
    case 'keys':
      return rotateKeys(rest, config, logger);
    default:
      process.stderr.write(`Unknown command "${command}"\n\n${usage}`);
      return 2;
  }
}

async function start(service: string | undefined, config: Config, logger: Logger): Promise<number> {
  let stop: () => Promise<void>;
  if (!service || service === 'all') {
    const supergraph = await startSupergraph(config, logger);
    stop = () => supergraph.stop();
    const lines = [
      '',
      `  LotaBots supergraph is running at ${supergraph.url}`,
      `  Sandbox: open ${supergraph.url.replace(/\/graphql$/, '/')} in a browser`,
      `  Live dashboard: open ${supergraph.url.replace(/\/graphql$/, '/dashboard/')}`,
      `  Demo sign-in: ${supergraph.demo?.email ?? config.LOTABOTS_DEMO_EMAIL}`,
      supergraph.demo?.password
        ? `  Demo password: ${supergraph.demo.password}   (shown once; set LOTABOTS_DEMO_PASSWORD to choose it)`
        : '  Demo password: the one printed at first start (or LOTABOTS_DEMO_PASSWORD)',
      '',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } else {
    const runtime = createRuntime(config, logger);
    let running: RunningService;
    if (service === 'gateway') {
      const subgraphUrls = Object.fromEntries(readSubgraphs().map((s) => [s.name, s.url]));
      if (config.SUBGRAPH_IDENTITY_URL) subgraphUrls.identity = config.SUBGRAPH_IDENTITY_URL;
      if (config.SUBGRAPH_GPU_AGENT_URL) subgraphUrls['gpu-agent'] = config.SUBGRAPH_GPU_AGENT_URL;
      if (config.SUBGRAPH_HARDWARE_ATTESTATION_URL)
        subgraphUrls['hardware-attestation'] = config.SUBGRAPH_HARDWARE_ATTESTATION_URL;
      if (config.SUBGRAPH_RESOURCES_URL) subgraphUrls.resources = config.SUBGRAPH_RESOURCES_URL;
      if (config.SUBGRAPH_DOCUMENTS_URL) subgraphUrls.documents = config.SUBGRAPH_DOCUMENTS_URL;
      if (config.SUBGRAPH_MODEL_ATTESTATION_URL)
        subgraphUrls['model-attestation'] = config.SUBGRAPH_MODEL_ATTESTATION_URL;
      running = await startGateway(runtime, {
        host: config.HOST,
        port: config.PORT === gatewayDefaultPort ? gatewayDefaultPort : config.PORT,
        subgraphUrls,
        identityUrl: standaloneIdentityUrl(subgraphUrls.identity),
      });
    } else {
      const module = subgraphModules.find((m) => m.name === service);
      if (!module) {
        process.stderr.write(`Unknown service "${service}"\n\n${usage}`);
        return 2;
      }
      // Run alone, a subgraph listens on PORT when it is set explicitly, else on its own default.
      const port = config.PORT === gatewayDefaultPort ? module.defaultPort : config.PORT;
      running = await module.start(runtime, { host: config.HOST, port }, standalonePeers(config));
    }
    stop = async () => {
      await running.stop();
      await runtime.close();
    };
    process.stdout.write(`${service} listening at ${running.url}\n`);
  }
  await waitForSignal(logger, stop);
  return 0;
}

/** Resolves after SIGINT/SIGTERM once `stop` finished (or 15 s passed: then the process exits 1). */
async function waitForSignal(logger: Logger, stop: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolvePromise) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      const force = setTimeout(() => {
        logger.error('shutdown took longer than 15 s; exiting');
        process.exit(1);
      }, 15_000);
      force.unref();
      stop().then(resolvePromise, (error: unknown) => {
        logger.error({ err: error }, 'error during shutdown');
        resolvePromise();
      });
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  });
}

async function agent(config: Config, logger: Logger): Promise<number> {
  if (!config.GPU_AGENT_ENDPOINT || !config.GPU_AGENT_API_KEY) {
    process.stderr.write(
      'lotabots agent needs GPU_AGENT_ENDPOINT (the gpu-agent service URL) and GPU_AGENT_API_KEY (an lb_… key with the OPERATOR role)\n',
    );
    return 2;
  }
  const apiKey = config.GPU_AGENT_API_KEY;
  const hostname = config.GPU_AGENT_HOSTNAME ?? osHostname();
  let running;
  try {
    running = await startNodeAgent({
      source: await createGpuSource(config, hostname, logger),
      link: createHttpFleetLink({ endpoint: config.GPU_AGENT_ENDPOINT, credential: () => apiKey }),
      hostname,
      logger,
    });
  } catch (error) {
    if (!(error instanceof FleetLinkError)) throw error;
    process.stderr.write(`enrollment refused (${error.status} ${error.code}): ${error.message}\n`);
    return 1;
  }
  process.stdout.write(`gpu node agent for ${hostname} reporting as node ${running.nodeId}\n`);
  await waitForSignal(logger, () => running.stop());
  return 0;
}

function compose(check: boolean): number {
  const composed = composeSchemas();
  const outputs = [
    { path: supergraphPath, sdl: composed.supergraph },
    { path: apiSchemaPath, sdl: composed.api },
  ];
  if (check) {
    const stale = outputs.filter(
      (o) => !existsSync(o.path) || readFileSync(o.path, 'utf8') !== o.sdl,
    );
    for (const o of stale) {
      process.stderr.write(
        `${relative(process.cwd(), o.path)} is stale: run \`npm run compose\` and commit it\n`,
      );
    }
    if (stale.length > 0) return 1;
    process.stdout.write('schema/supergraph.graphql and schema/api.graphql are up to date\n');
    return 0;
  }
  for (const o of outputs) {
    writeFileSync(o.path, o.sdl);
    process.stdout.write(`wrote ${o.path}\n`);
  }
  return 0;
}

async function rotateKeys(args: string[], config: Config, logger: Logger): Promise<number> {
  if (args[0] !== 'rotate') {
    process.stderr.write(usage);
    return 2;
  }
  const { rotateSigningKey } = await import('../subgraphs/identity/rotate.ts');
  const kid = await rotateSigningKey(config, logger);
  process.stdout.write(
    `new signing key ${kid}; the previous key stays published until its tokens expire\n`,
  );
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    process.stderr.write(`lotabots: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
