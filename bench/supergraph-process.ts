/**
 * The supergraph under test for the benchmarks that need one out of process, so their load
 * generators do not share its event loop. Configured by the environment the benchmark passes;
 * prints one JSON line when ready; stops cleanly on SIGTERM.
 */
import { loadConfig } from '../platform/config.ts';
import { createLogger } from '../platform/logger.ts';
import { startSupergraph } from '../platform/supergraph.ts';

const config = loadConfig();
const supergraph = await startSupergraph(config, createLogger(config), { seedDemo: false });
const gpuAgent = supergraph.subgraphs.find((s) => s.name === 'gpu-agent');
process.stdout.write(
  `${JSON.stringify({ gatewayPort: supergraph.gateway.port, gpuAgentUrl: gpuAgent?.url })}\n`,
);
// The benchmark asks for memory figures over IPC; collecting garbage first (the process runs with
// --expose-gc) makes two readings comparable.
process.on('message', (message) => {
  if (message !== 'memory') return;
  (globalThis as { gc?: () => void }).gc?.();
  process.send?.(process.memoryUsage());
});
process.once('SIGTERM', () => {
  void supergraph.stop().finally(() => process.exit(0));
});
