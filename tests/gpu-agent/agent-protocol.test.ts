import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import { createHttpFleetLink } from '../../gpu-agent/agent/fleet-link.ts';
import { startNodeAgent } from '../../gpu-agent/agent/node-agent.ts';
import { createSimulatedSource } from '../../gpu-agent/simulator/index.ts';
import { createApiKey, enrollSimulatedNode, gpuAgentUrl } from '../support/gpu.ts';
import { signUp, startTestSupergraph, type TestSupergraph } from '../support/supergraph.ts';

// The HTTP protocol node agents speak with the gpu-agent subgraph, driven with plain fetch as a
// hostile or broken agent would: every refusal names what is wrong, and nothing reaches the fleet.
let supergraph: TestSupergraph;
let base: string;
let operatorKey: string;
let viewerKey: string;
let otherOperatorKey: string;
let ownerToken: string;

beforeAll(async () => {
  supergraph = await startTestSupergraph({
    RATE_LIMIT_FREE: '100000',
    GPU_NODE_OFFLINE_AFTER_SECONDS: '2',
  });
  base = gpuAgentUrl(supergraph).replace(/\/graphql$/, '');
  const owner = await signUp(supergraph, 'agent-owner');
  ownerToken = owner.accessToken;
  operatorKey = await createApiKey(supergraph, owner.accessToken, 'OPERATOR');
  viewerKey = await createApiKey(supergraph, owner.accessToken, 'VIEWER');
  const other = await signUp(supergraph, 'agent-other');
  otherOperatorKey = await createApiKey(supergraph, other.accessToken, 'OPERATOR');
});
afterAll(async () => {
  await supergraph?.stop();
});

async function call(
  method: string,
  path: string,
  key: string | null,
  body?: unknown,
): Promise<{
  status: number;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
}> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as never) : {} };
}

async function snapshotFor(hostname: string) {
  const source = createSimulatedSource({
    hostname,
    gpus: [{ model: 'A100-40GB', migEnabled: true }],
  });
  return source.collect();
}

describe('agent protocol', () => {
  it('refuses missing, malformed, revoked-looking and too-weak credentials', async () => {
    expect((await call('POST', '/agent/v1/enroll', null, { hostname: 'n1' })).status).toBe(401);
    const garbage = await call('POST', '/agent/v1/enroll', 'lb_nope', { hostname: 'n1' });
    expect(garbage.status).toBe(401);
    expect(garbage.body.error?.message).toMatch(/API key is malformed/);
    const viewer = await call('POST', '/agent/v1/enroll', viewerKey, { hostname: 'n1' });
    expect(viewer.status).toBe(403);
    expect(viewer.body.error?.message).toMatch(/OPERATOR/);
  });

  it('enrolls with an operator key or an access token, and finds the same node again by host name', async () => {
    const first = await call('POST', '/agent/v1/enroll', operatorKey, { hostname: 'gpu-a' });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ intervalSeconds: 5 });
    const again = await call('POST', '/agent/v1/enroll', ownerToken, { hostname: 'gpu-a' });
    expect(again.body.nodeId).toBe(first.body.nodeId);
    const bad = await call('POST', '/agent/v1/enroll', operatorKey, { hostname: '../etc' });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.message).toMatch(/hostname/);
  });

  it('rejects snapshots that are not JSON, break the schema, name another host or are too large', async () => {
    const { body } = await call('POST', '/agent/v1/enroll', operatorKey, { hostname: 'gpu-b' });
    const path = `/agent/v1/nodes/${String(body.nodeId)}/snapshot`;
    const notJson = await call('POST', path, operatorKey, '{"snapshot": ');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error?.message).toMatch(/not valid JSON/);

    const snapshot = await snapshotFor('gpu-b');
    const broken = structuredClone(snapshot) as unknown as { gpus: Record<string, unknown>[] };
    broken.gpus[0]!.memoryTotalMiB = 'eighty gigabytes';
    const invalid = await call('POST', path, operatorKey, { snapshot: broken });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error?.message).toMatch(/snapshot\.gpus\.0\.memoryTotalMiB/);

    const elsewhere = await call('POST', path, operatorKey, {
      snapshot: { ...snapshot, hostname: 'gpu-c' },
    });
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.body.error?.message).toMatch(/enrolled as "gpu-b"/);

    const huge = await call('POST', path, operatorKey, {
      snapshot,
      padding: 'x'.repeat(5 * 1024 * 1024),
    });
    expect(huge.status).toBe(413);

    // None of it reached the fleet: the node still has no GPUs.
    const nodes = await supergraph.graphql<{ gpuNodes: { hostname: string; gpus: unknown[] }[] }>(
      '{ gpuNodes { hostname gpus { uuid } } }',
      {},
      ownerToken,
    );
    expect(nodes.data?.gpuNodes.find((n) => n.hostname === 'gpu-b')?.gpus).toEqual([]);
    expect((await call('POST', path, operatorKey, { snapshot })).status).toBe(204);
  });

  it("answers another organization's node exactly like a missing one", async () => {
    const { body } = await call('POST', '/agent/v1/enroll', operatorKey, { hostname: 'gpu-d' });
    const snapshot = await snapshotFor('gpu-d');
    const foreign = await call(
      'POST',
      `/agent/v1/nodes/${String(body.nodeId)}/snapshot`,
      otherOperatorKey,
      {
        snapshot,
      },
    );
    expect(foreign.status).toBe(404);
    const missing = await call(
      'POST',
      '/agent/v1/nodes/00000000-0000-4000-8000-000000000000/snapshot',
      operatorKey,
      { snapshot },
    );
    expect(missing.status).toBe(404);
    expect(foreign.body.error?.message).toBe(missing.body.error?.message);
    const commands = await call(
      'GET',
      `/agent/v1/nodes/${String(body.nodeId)}/commands`,
      otherOperatorKey,
    );
    expect(commands.status).toBe(404);
  });

  it('an agent waits for a gpu-agent that is not up yet, but stops at once when its key is refused', async () => {
    // A real HTTP front that answers 503 twice (a service still starting), then forwards.
    let refusals = 2;
    const front = createServer((req, res) => {
      if (refusals > 0) {
        refusals -= 1;
        res.writeHead(503, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      void (async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const answer = await fetch(`${base}${req.url ?? ''}`, {
          method: req.method,
          headers: {
            authorization: req.headers.authorization ?? '',
            'content-type': 'application/json',
          },
          body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
        });
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(Buffer.from(await answer.arrayBuffer()));
      })();
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    const { port } = front.address() as AddressInfo;
    const logger = createLogger(supergraph.runtime.config);
    const source = createSimulatedSource({
      hostname: 'late-start',
      gpus: [{ model: 'A100-40GB', migEnabled: false }],
    });
    try {
      const agent = await startNodeAgent({
        source,
        link: createHttpFleetLink({
          endpoint: `http://127.0.0.1:${port}`,
          credential: () => operatorKey,
        }),
        hostname: 'late-start',
        logger,
      });
      expect(refusals).toBe(0);
      await agent.stop();
      const refused = startNodeAgent({
        source: createSimulatedSource({ hostname: 'weak', gpus: [] }),
        link: createHttpFleetLink({ endpoint: base, credential: () => viewerKey }),
        hostname: 'weak',
        logger,
      });
      await expect(refused).rejects.toMatchObject({ status: 403, code: 'FORBIDDEN' });
    } finally {
      front.close();
    }
  });

  it('marks a node offline after missed heartbeats and refuses MIG changes until it is back', async () => {
    const node = await enrollSimulatedNode(supergraph, operatorKey, 'gpu-offline', [
      { model: 'H100-80GB', migEnabled: true },
    ]);
    const uuid = node.source.gpuUuids[0]!;
    await node.agent.stop();
    const query = 'query($id: ID!) { gpuNode(id: $id) { online lastSeenAt gpus { uuid } } }';
    const online = await supergraph.graphql<{ gpuNode: { online: boolean } }>(
      query,
      { id: node.agent.nodeId },
      ownerToken,
    );
    expect(online.data?.gpuNode.online).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const offline = await supergraph.graphql<{
      gpuNode: { online: boolean; gpus: { uuid: string }[] };
    }>(query, { id: node.agent.nodeId }, ownerToken);
    expect(offline.data?.gpuNode.online).toBe(false);
    // The last known GPUs stay visible while the node is away.
    expect(offline.data?.gpuNode.gpus.map((g) => g.uuid)).toEqual([uuid]);
    const refused = await supergraph.graphql(
      'mutation($i: CreateMigInstanceInput!) { createMigInstance(input: $i) { gpuInstanceId } }',
      { i: { gpuUuid: uuid, profile: '1g.10gb' } },
      operatorKey,
    );
    expect(refused.errors?.[0]?.extensions).toMatchObject({
      code: 'CONFLICT',
      reason: 'NODE_OFFLINE',
    });
  });
});
