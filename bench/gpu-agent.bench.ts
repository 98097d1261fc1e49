/**
 * npm run bench:gpu-agent — the gpu-agent's two hot paths.
 *
 *   1. parse    — `nvidia-smi -q -x` parser over every vendored capture (documents/s, MB/s).
 *   2. fleet    — 100 simulated nodes × 8 GPUs (half in MIG mode, with instances) enrolled
 *                 through the agent protocol and reporting every 5 s while it runs; then
 *                 `gpuNodes { gpus { migInstances } }` sent one at a time (latency: p50/p99,
 *                 target p99 < 50 ms) and with 4 connections (throughput), through the gateway
 *                 and, as the baseline in the same run, straight to the gpu-agent subgraph.
 *
 * Run with NODE_ENV=production (the npm script does): graphql-js otherwise adds development-only
 * checks to every type test, as in any deployment that forgets it.
 *
 * The ratio gateway/direct shows what the gateway adds (auth, rules, cost, planning, re-serialising
 * ~0.4 MB of JSON). Rate limits stay on, with a bucket large enough for a benchmark.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../platform/config.ts';
import { createLogger } from '../platform/logger.ts';
import { startSupergraph } from '../platform/supergraph.ts';
import { createHttpFleetLink } from '../gpu-agent/agent/fleet-link.ts';
import { simulatedFleet } from '../gpu-agent/simulator/index.ts';
import { measureParseThroughput } from './gpu-agent/parse.ts';
import { freePort, runPhase, signUpForBench, type Phase } from './support.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const nodeCount = Number(process.env.BENCH_NODES ?? 100);
const p99TargetMs = 50;

function drive(
  name: string,
  url: string,
  token: string,
  query: string,
  connections: number,
): Promise<Phase> {
  return runPhase(
    name,
    url,
    { query },
    {
      connections,
      seconds,
      headers: { authorization: `Bearer ${token}` },
    },
  );
}

/** The query the issue sets the target for: every node's GPUs and their MIG instances. */
const migLayout = /* GraphQL */ `
  {
    gpuNodes {
      id
      gpus {
        uuid
        migInstances {
          gpuInstanceId
          computeInstanceId
          profile
          memoryMiB
          uuid
        }
      }
    }
  }
`;

/** A dashboard's full inventory: telemetry too. */
const inventory = /* GraphQL */ `
  {
    gpuNodes {
      id
      hostname
      online
      driverVersion
      gpus {
        uuid
        name
        memoryUsedMiB
        memoryTotalMiB
        utilizationPercent
        temperatureC
        powerDrawW
        migMode {
          current
        }
        migInstances {
          gpuInstanceId
          computeInstanceId
          profile
          memoryMiB
          uuid
        }
      }
    }
  }
`;

async function main(): Promise<void> {
  process.stdout.write(
    'gpu-agent benchmark\n\n1. parse (every vendored nvidia-smi -q -x capture)\n',
  );
  const parse = await measureParseThroughput(3_000);
  process.stdout.write(
    `  ${parse.documents} documents, ${(parse.bytes / 1e6).toFixed(1)} MB: ${parse.documentsPerSecond.toFixed(0)} documents/s, ${parse.megabytesPerSecond.toFixed(1)} MB/s, ${parse.failures.length} failures\n`,
  );
  for (const failure of parse.failures) process.stdout.write(`  FAILED ${failure}\n`);

  const port = await freePort();
  const config = loadConfig({
    LOTABOTS_DATA_DIR: mkdtempSync(join(tmpdir(), 'lotabots-bench-gpu-')),
    LOG_LEVEL: 'warn',
    PORT: String(port),
    PASSWORD_HASH_LOG2N: '14',
    RATE_LIMIT_FREE: '100000000',
    GPU_DEMO_NODE: 'false',
  });
  process.stdout.write(`\n2. fleet (${nodeCount} nodes × 8 GPUs)\n  booting the supergraph …\n`);
  const supergraph = await startSupergraph(config, createLogger(config), { seedDemo: false });
  const gpuAgent = supergraph.subgraphs.find((s) => s.name === 'gpu-agent');
  if (!gpuAgent) throw new Error('gpu-agent is not running');
  let stopReporting = false;
  try {
    const gatewayUrl = `http://127.0.0.1:${supergraph.gateway.port}/graphql`;
    const token = await signUpForBench(
      `http://127.0.0.1:${supergraph.gateway.port}`,
      'Bench fleet',
    );

    const fleet = simulatedFleet(nodeCount, { autoProcesses: true });
    // Give the MIG GPUs a mixed layout, as a busy fleet has.
    for (const node of fleet) {
      const snapshot = await node.collect();
      for (const gpu of snapshot.gpus.filter((g) => g.migMode.current)) {
        for (const profile of ['3g.40gb', '2g.20gb', '1g.10gb']) {
          await node.createMigInstance(gpu.uuid, profile).catch(() => undefined);
        }
      }
    }
    const link = createHttpFleetLink({ endpoint: gpuAgent.url, credential: () => token });
    const nodeIds = await Promise.all(
      fleet.map(async (node) => (await link.enroll(node.hostname)).nodeId),
    );
    await Promise.all(
      fleet.map(async (node, i) => link.publishSnapshot(nodeIds[i]!, await node.collect())),
    );
    // Heartbeats while measuring: every node reports every 5 s, spread evenly.
    const reporting = (async () => {
      let i = 0;
      while (!stopReporting) {
        const node = fleet[i % fleet.length]!;
        await link.publishSnapshot(nodeIds[i % fleet.length]!, await node.collect());
        i += 1;
        await new Promise((r) => setTimeout(r, 5_000 / fleet.length));
      }
    })();

    const check = await fetch(gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: inventory }),
    });
    const checkText = await check.text();
    const checked = JSON.parse(checkText) as {
      data?: { gpuNodes: { gpus: { migInstances: unknown[] }[] }[] };
      errors?: unknown;
    };
    const gpus = checked.data?.gpuNodes.flatMap((n) => n.gpus) ?? [];
    const instances = gpus.reduce((sum, g) => sum + g.migInstances.length, 0);
    if (checked.errors || checked.data?.gpuNodes.length !== nodeCount) {
      throw new Error(`inventory query failed: ${checkText.slice(0, 500)}`);
    }
    process.stdout.write(
      `  inventory answer: ${checked.data.gpuNodes.length} nodes, ${gpus.length} GPUs, ${instances} MIG instances, ${(checkText.length / 1e6).toFixed(2)} MB\n`,
    );

    const phases = [
      await drive('MIG layout, direct to gpu-agent', gpuAgent.url, token, migLayout, 1),
      await drive('MIG layout, through the gateway', gatewayUrl, token, migLayout, 1),
      await drive('inventory, direct to gpu-agent', gpuAgent.url, token, inventory, 1),
      await drive('inventory, through the gateway', gatewayUrl, token, inventory, 1),
      await drive('inventory, gateway, 4 connections', gatewayUrl, token, inventory, 4),
    ];
    stopReporting = true;
    await reporting;

    process.stdout.write(
      '\n  phase                                   req/s   p50 ms   p99 ms   errors\n',
    );
    for (const p of phases) {
      process.stdout.write(
        `  ${p.name.padEnd(38)} ${p.rps.toFixed(1).padStart(6)} ${String(p.p50).padStart(8)} ${String(p.p99).padStart(8)} ${String(p.errors).padStart(8)}\n`,
      );
    }
    const [direct, gateway] = phases as [Phase, Phase];
    process.stdout.write(
      `\n  gateway/direct p50 ratio (MIG layout): ${(gateway.p50 / Math.max(direct.p50, 1)).toFixed(2)}\n` +
        (nodeCount === 100
          ? `  target: MIG layout p99 < ${p99TargetMs} ms through the gateway: ${gateway.p99 < p99TargetMs ? 'met' : 'MISSED'} (${gateway.p99} ms)\n`
          : `  (the target is set for 100 nodes; this run used ${nodeCount})\n`),
    );
    if (phases.some((p) => p.errors > 0)) process.exitCode = 1;
  } finally {
    stopReporting = true;
    await supergraph.stop();
  }
}

await main();
