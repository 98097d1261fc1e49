import { describe, expect, it } from 'vitest';
import type {
  FeedItemFragment,
  GpuLiveFragment,
} from '../../generated/graphql/dashboard/operations.ts';
import { reconnectDelayMs, refreshDelayMs } from '../../gateway/dashboard/src/api/timing.ts';
import { FEED_LIMIT, upsertAttestation } from '../../gateway/dashboard/src/state/feed.ts';
import {
  applyTelemetry,
  migLayout,
  type FleetNode,
} from '../../gateway/dashboard/src/state/fleet.ts';

/** What the page does with each live event, checked without a browser (the browser suite covers the wiring). */

function item(
  id: string,
  status: FeedItemFragment['status'],
  submittedAt: string,
): FeedItemFragment {
  return {
    id,
    status,
    verdict: status === 'VERIFIED' ? 'AFFIRMING' : null,
    gpuUuid: `GPU-${id}`,
    gpu: null,
    trigger: 'REQUEST',
    policy: null,
    submittedAt,
    completedAt: null,
    error: null,
  };
}

function gpu(instances: Partial<GpuLiveFragment['migInstances'][number]>[]): GpuLiveFragment {
  return {
    uuid: 'GPU-1',
    index: 0,
    name: 'NVIDIA H100 80GB HBM3',
    memoryTotalMiB: 81_559,
    memoryUsedMiB: 0,
    utilizationPercent: null,
    temperatureC: 30,
    powerDrawW: 70,
    powerLimitW: 700,
    confidentialComputeMode: 'ON',
    migMode: { current: true, pending: false },
    migInstances: instances.map((i, n) => ({
      gpuInstanceId: n + 1,
      profile: '1g.10gb',
      memoryMiB: 9_984,
      memoryUsedMiB: 0,
      utilizationPercent: null,
      placementStart: null,
      placementSize: null,
      ...i,
    })),
  };
}

function node(id: string, hostname: string): FleetNode {
  return {
    id,
    hostname,
    online: true,
    lastSeenAt: '2026-11-30T12:00:00.000Z',
    driverVersion: '580.173.02',
    cudaVersion: '13.0',
    gpus: [],
  };
}

describe('attestation feed', () => {
  it('puts new attestations first and updates an existing one in place', () => {
    let feed = upsertAttestation([], item('a', 'PENDING', '2026-11-30T10:00:00.000Z'));
    feed = upsertAttestation(feed, item('b', 'PENDING', '2026-11-30T10:00:05.000Z'));
    feed = upsertAttestation(feed, item('a', 'VERIFIED', '2026-11-30T10:00:00.000Z'));
    expect(feed.map((f) => [f.id, f.status])).toEqual([
      ['b', 'PENDING'],
      ['a', 'VERIFIED'],
    ]);
  });

  it('never moves an attestation backwards when a late event arrives', () => {
    let feed = upsertAttestation([], item('a', 'VERIFIED', '2026-11-30T10:00:00.000Z'));
    feed = upsertAttestation(feed, item('a', 'RUNNING', '2026-11-30T10:00:00.000Z'));
    expect(feed[0]?.status).toBe('VERIFIED');
  });

  it(`keeps the newest ${FEED_LIMIT}`, () => {
    let feed: FeedItemFragment[] = [];
    for (let n = 0; n < FEED_LIMIT + 5; n += 1) {
      const at = new Date(Date.UTC(2026, 10, 30, 10, 0, n)).toISOString();
      feed = upsertAttestation(feed, item(`id-${n}`, 'PENDING', at));
    }
    expect(feed).toHaveLength(FEED_LIMIT);
    expect(feed[0]?.id).toBe(`id-${FEED_LIMIT + 4}`);
    expect(feed.some((f) => f.id === 'id-0')).toBe(false);
  });
});

describe('fleet telemetry', () => {
  it('replaces the reporting node, adds a new one, and keeps hostname order', () => {
    const fleet = [node('n1', 'alpha'), node('n2', 'charlie')];
    const report = {
      sampledAt: '2026-11-30T12:00:01.000Z',
      node: node('n2', 'charlie'),
      gpus: [gpu([])],
    };
    const updated = applyTelemetry(fleet, report);
    expect(updated.map((n) => n.hostname)).toEqual(['alpha', 'charlie']);
    expect(updated[1]?.gpus).toHaveLength(1);
    const added = applyTelemetry(updated, { ...report, node: node('n3', 'bravo'), gpus: [] });
    expect(added.map((n) => n.hostname)).toEqual(['alpha', 'bravo', 'charlie']);
  });
});

describe('MIG layout', () => {
  it.each([
    {
      name: 'one 7g instance fills the grid',
      instances: [{ profile: '7g.80gb', placementStart: 0, placementSize: 8 }],
      slots: 8,
      slices: [[0, 8]],
    },
    {
      name: 'placed instances are drawn where the driver put them, in order',
      instances: [
        { profile: '1g.10gb', placementStart: 6, placementSize: 1 },
        { profile: '3g.40gb', placementStart: 0, placementSize: 4 },
      ],
      slots: 8,
      slices: [
        [0, 4],
        [6, 1],
      ],
    },
    {
      name: 'an instance without a placement is still shown, after the grid',
      instances: [{ profile: '2g.20gb' }],
      slots: 9,
      slices: [[8, 1]],
    },
  ])('$name', ({ instances, slots, slices }) => {
    const layout = migLayout(gpu(instances));
    expect(layout.slots).toBe(slots);
    expect(layout.slices.map((s) => [s.start, s.size])).toEqual(slices);
  });
});

describe('timing', () => {
  it('refreshes a 15-minute token a minute early and a short one at three quarters of its life', () => {
    expect(refreshDelayMs(900)).toBe(840_000);
    expect(refreshDelayMs(20)).toBe(15_000);
    expect(refreshDelayMs(1)).toBe(1_000);
  });

  it('backs off exponentially with jitter, capped at 30 s', () => {
    expect(reconnectDelayMs(0, () => 0)).toBe(250);
    expect(reconnectDelayMs(0, () => 1)).toBe(500);
    expect(reconnectDelayMs(3, () => 0)).toBe(2_000);
    expect(reconnectDelayMs(20, () => 1)).toBe(30_000);
    expect(reconnectDelayMs(20, () => 0)).toBe(15_000);
  });
});
