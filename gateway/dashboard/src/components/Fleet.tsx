import type { GpuLiveFragment } from '../../../../generated/graphql/dashboard/operations.ts';
import { formatAge } from '../format.ts';
import type { FleetNode } from '../state/fleet.ts';
import { GpuCard } from './GpuCard.tsx';

interface FleetProps {
  nodes: readonly FleetNode[] | null;
  now: number;
  onAttest?: (gpu: GpuLiveFragment) => void;
  attesting: ReadonlySet<string>;
}

/** The organization's GPU nodes and their GPUs, as the last telemetry report left them. */
export function Fleet({ nodes, now, onAttest, attesting }: FleetProps) {
  return (
    <section class="panel fleet" aria-labelledby="fleet-heading">
      <h2 id="fleet-heading">GPU nodes</h2>
      {nodes === null ? <p>Loading nodes…</p> : null}
      {nodes?.length === 0 ? (
        <p>
          No GPU nodes yet. Start a node agent with an OPERATOR API key (<code>lotabots agent</code>
          ) and it appears here on its first report.
        </p>
      ) : null}
      {nodes?.map((node) => (
        <section class="node" key={node.id} aria-label={`Node ${node.hostname}`}>
          <header class="node-header">
            <h3>{node.hostname}</h3>
            <span class={`badge ${node.online ? 'badge-online' : 'badge-offline'}`}>
              {node.online ? 'online' : 'offline'}
            </span>
            <span class="muted">
              driver {node.driverVersion ?? '—'} · CUDA {node.cudaVersion ?? '—'} · seen{' '}
              {formatAge(node.lastSeenAt, now)}
            </span>
          </header>
          <div class="gpus">
            {node.gpus.map((gpu) => (
              <GpuCard
                key={gpu.uuid}
                gpu={gpu}
                hostname={node.hostname}
                attesting={attesting.has(gpu.uuid)}
                {...(onAttest ? { onAttest } : {})}
              />
            ))}
          </div>
        </section>
      ))}
    </section>
  );
}
