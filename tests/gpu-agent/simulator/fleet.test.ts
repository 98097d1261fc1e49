import { describe, expect, it } from 'vitest';
import { simulatedFleet } from '../../../gpu-agent/simulator/index.ts';

describe('simulated fleet', () => {
  it('builds N nodes of 8 GPUs, one model per node, models mixed across the fleet', async () => {
    const fleet = simulatedFleet(10, { seed: 3 });
    const snapshots = await Promise.all(fleet.map((n) => n.collect()));
    expect(new Set(snapshots.map((s) => s.hostname)).size).toBe(10);
    expect(snapshots.every((s) => s.gpus.length === 8)).toBe(true);
    for (const s of snapshots) expect(new Set(s.gpus.map((g) => g.name)).size).toBe(1);
    expect(new Set(snapshots.map((s) => s.gpus[0]!.name)).size).toBe(4);
    const gpus = snapshots.flatMap((s) => s.gpus);
    expect(new Set(gpus.map((g) => g.uuid)).size).toBe(80);
    // Half the GPUs are in MIG mode, most of them partitioned.
    const mig = gpus.filter((g) => g.migMode.current);
    expect(mig).toHaveLength(40);
    expect(mig.filter((g) => g.migInstances.length > 0).length).toBeGreaterThan(25);
    expect(gpus.filter((g) => !g.migMode.current).every((g) => g.migInstances.length === 0)).toBe(
      true,
    );
  });
});
