/**
 * Child process of `npm run bench:gateway`: the identity subgraph (real, embedded database) and
 * the synthetic subgraphs, so that the bench process's CPU time is the gateway's alone.
 *
 * Started with `fork(…, [configJson])`; sends `{ type: 'ready', urls }` once everything listens,
 * answers `{ type: 'stats' }` with the GraphQL requests each subgraph has received and this
 * process's CPU time, and stops on `{ type: 'stop' }` or when the parent goes away.
 */
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import { createRuntime } from '../../platform/runtime.ts';
import { startIdentity } from '../../subgraphs/identity/index.ts';
import { startSyntheticSubgraph, syntheticSubgraphs } from './synthetic.ts';

export type ParentMessage = { type: 'stats' } | { type: 'stop' };
export type ChildMessage =
  | { type: 'ready'; urls: Record<string, string> }
  | { type: 'stats'; calls: Record<string, number>; cpuMicros: number };

function send(message: ChildMessage): void {
  process.send?.(message);
}

const config = loadConfig(JSON.parse(process.argv[2] ?? '{}') as Record<string, string>);
const runtime = createRuntime(config, createLogger(config));
const identity = await startIdentity(runtime, { host: '127.0.0.1', port: 0 });
const calls: Record<string, number> = { identity: 0 };
identity.server.on('request', (req: { url?: string }) => {
  if (req.url?.startsWith('/graphql')) calls.identity = (calls.identity ?? 0) + 1;
});
const synthetic = await Promise.all(
  syntheticSubgraphs.map((subgraph) => {
    calls[subgraph.name] = 0;
    return startSyntheticSubgraph(subgraph, () => {
      calls[subgraph.name] = (calls[subgraph.name] ?? 0) + 1;
    });
  }),
);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.allSettled(synthetic.map((s) => s.stop()));
  await identity.stop().catch(() => undefined);
  await runtime.close();
  process.exit(0);
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'stats') {
    const cpu = process.cpuUsage();
    send({ type: 'stats', calls: { ...calls }, cpuMicros: cpu.user + cpu.system });
  } else if (message.type === 'stop') void stop();
});
process.on('disconnect', () => void stop());

send({
  type: 'ready',
  urls: {
    identity: identity.url,
    ...Object.fromEntries(synthetic.map((s) => [s.name, s.url])),
  },
});
