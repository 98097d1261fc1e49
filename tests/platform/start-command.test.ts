import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * `npm start` as a user runs it: a real child process, the banner on stdout, GraphQL over HTTP,
 * and a clean exit on SIGTERM. Also the production shape: identity and gateway as two processes.
 */
const root = new URL('../../', import.meta.url).pathname;
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  return new Promise((resolvePromise) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePromise(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function launch(
  args: string[],
  env: Record<string, string>,
): { child: ChildProcess; output: () => string; waitFor: (re: RegExp) => Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/lotabots.ts', ...args], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      LOG_LEVEL: 'warn',
      PASSWORD_HASH_LOG2N: '14',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return {
    child,
    output: () => text,
    waitFor: (re) =>
      new Promise((resolvePromise, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${re}; output:\n${text}`)),
          60_000,
        );
        const check = () => {
          const match = re.exec(text);
          if (match) {
            clearTimeout(timer);
            resolvePromise(match[0]);
          } else if (child.exitCode !== null) {
            clearTimeout(timer);
            reject(new Error(`exited ${child.exitCode} before ${re}; output:\n${text}`));
          } else setTimeout(check, 100);
        };
        check();
      }),
  };
}

async function graphql(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
) {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
}

describe('the start command', () => {
  it('boots everything, prints the URL and demo credentials, serves the demo login and exits cleanly on SIGTERM', async () => {
    const port = await freePort();
    const app = launch(['start'], {
      PORT: String(port),
      LOTABOTS_DATA_DIR: mkdtempSync(join(tmpdir(), 'lotabots-start-')),
      LOTABOTS_DEMO_EMAIL: 'owner@demo.example',
      LOTABOTS_DEMO_PASSWORD: 'demo password for tests',
    });
    await app.waitFor(/Demo password: demo password for tests/);
    expect(app.output()).toContain(`running at http://127.0.0.1:${port}/graphql`);

    const login = await graphql(
      `http://127.0.0.1:${port}/graphql`,
      'mutation($i: LoginInput!) { login(input: $i) { accessToken organization { name tier } } }',
      { i: { email: 'owner@demo.example', password: 'demo password for tests' } },
    );
    expect(login.data?.login).toMatchObject({
      organization: { name: 'LotaBots Demo', tier: 'ENTERPRISE' },
    });

    const exited = new Promise<number | null>((resolvePromise) =>
      app.child.once('exit', (code) => resolvePromise(code)),
    );
    app.child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 90_000);

  it('runs each subgraph and the gateway as separate processes', async () => {
    const [
      identityPort,
      gpuAgentPort,
      attestationPort,
      modelAttestationPort,
      resourcesPort,
      documentsPort,
      gatewayPort,
    ] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const dataDir = mkdtempSync(join(tmpdir(), 'lotabots-split-'));
    const identity = launch(['start', 'identity'], {
      PORT: String(identityPort),
      LOTABOTS_DATA_DIR: dataDir,
      PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`,
    });
    await identity.waitFor(/identity listening at \S+/);
    const gpuAgent = launch(['start', 'gpu-agent'], {
      PORT: String(gpuAgentPort),
      LOTABOTS_DATA_DIR: dataDir,
      PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`,
      SUBGRAPH_IDENTITY_URL: `http://127.0.0.1:${identityPort}/graphql`,
    });
    await gpuAgent.waitFor(/gpu-agent listening at \S+/);
    const attestation = launch(['start', 'hardware-attestation'], {
      PORT: String(attestationPort),
      LOTABOTS_DATA_DIR: dataDir,
      PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`,
      SUBGRAPH_IDENTITY_URL: `http://127.0.0.1:${identityPort}/graphql`,
      SUBGRAPH_GPU_AGENT_URL: `http://127.0.0.1:${gpuAgentPort}/graphql`,
    });
    await attestation.waitFor(/hardware-attestation listening at \S+/);
    const modelAttestation = launch(['start', 'model-attestation'], {
      PORT: String(modelAttestationPort),
      LOTABOTS_DATA_DIR: dataDir,
      PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`,
      SUBGRAPH_IDENTITY_URL: `http://127.0.0.1:${identityPort}/graphql`,
    });
    await modelAttestation.waitFor(/model-attestation listening at \S+/);
    const resources = launch(['start', 'resources'], {
      PORT: String(resourcesPort),
      LOTABOTS_DATA_DIR: dataDir,
      PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`,
      SUBGRAPH_IDENTITY_URL: `http://127.0.0.1:${identityPort}/graphql`,
      SUBGRAPH_GPU_AGENT_URL: `http://127.0.0.1:${gpuAgentPort}/graphql`,
    });
    await resources.waitFor(/resources listening at \S+/);
    const documents = launch(['start', 'documents'], {
      PORT: String(documentsPort),
      LOTABOTS_DATA_DIR: dataDir,
      PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`,
      SUBGRAPH_IDENTITY_URL: `http://127.0.0.1:${identityPort}/graphql`,
      SUBGRAPH_HARDWARE_ATTESTATION_URL: `http://127.0.0.1:${attestationPort}/graphql`,
      SUBGRAPH_MODEL_ATTESTATION_URL: `http://127.0.0.1:${modelAttestationPort}/graphql`,
    });
    await documents.waitFor(/documents listening at \S+/);
    const gateway = launch(['start', 'gateway'], {
      PORT: String(gatewayPort),
      LOTABOTS_DATA_DIR: dataDir,
      PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`,
      SUBGRAPH_IDENTITY_URL: `http://127.0.0.1:${identityPort}/graphql`,
      SUBGRAPH_GPU_AGENT_URL: `http://127.0.0.1:${gpuAgentPort}/graphql`,
      SUBGRAPH_HARDWARE_ATTESTATION_URL: `http://127.0.0.1:${attestationPort}/graphql`,
      SUBGRAPH_RESOURCES_URL: `http://127.0.0.1:${resourcesPort}/graphql`,
      SUBGRAPH_DOCUMENTS_URL: `http://127.0.0.1:${documentsPort}/graphql`,
      SUBGRAPH_MODEL_ATTESTATION_URL: `http://127.0.0.1:${modelAttestationPort}/graphql`,
    });
    await gateway.waitFor(/gateway listening at \S+/);

    const url = `http://127.0.0.1:${gatewayPort}/graphql`;
    const signUp = await graphql(
      url,
      'mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }',
      {
        i: {
          email: 'split@example.com',
          password: 'two processes, one graph',
          organizationName: 'Split Org',
        },
      },
    );
    const token = (signUp.data?.signUp as { accessToken: string } | undefined)?.accessToken;
    expect(signUp.errors).toBeUndefined();
    expect(token).toBeTruthy();
    const me = await graphql(url, '{ me { email } organization { name } }', {}, token);
    expect(me.data).toEqual({
      me: { email: 'split@example.com' },
      organization: { name: 'Split Org' },
    });
    // The gateway reaches the gpu-agent process too: its fields answer (no nodes yet).
    const nodes = await graphql(url, '{ gpuNodes { id } }', {}, token);
    expect(nodes.data).toEqual({ gpuNodes: [] });
    // And the resources process (no allocations yet).
    const allocations = await graphql(url, '{ allocations { edges { node { id } } } }', {}, token);
    expect(allocations.data).toEqual({ allocations: { edges: [] } });
    // And the documents process: none yet, then one created at version 1.
    const noDocuments = await graphql(
      url,
      '{ documents(first: 1) { edges { node { id } } } }',
      {},
      token,
    );
    expect(noDocuments.errors).toBeUndefined();
    expect(noDocuments.data).toEqual({ documents: { edges: [] } });
    const created = await graphql(
      url,
      'mutation { createDocument(input: { kind: CUSTOM, title: "x" }) { id version } }',
      {},
      token,
    );
    expect(created.errors).toBeUndefined();
    const document = created.data?.createDocument as { id: string; version: number } | undefined;
    expect(document?.id).toBeTruthy();
    expect(document?.version).toBe(1);
    // And the model-attestation process: no models yet, then one registered at version "1".
    const noModels = await graphql(url, '{ models { edges { node { id } } } }', {}, token);
    expect(noModels.errors).toBeUndefined();
    expect(noModels.data).toEqual({ models: { edges: [] } });
    const registered = await graphql(
      url,
      'mutation { registerModel(input: { name: "acme/x", version: "1", license: "mit", format: "safetensors" }) { id version } }',
      {},
      token,
    );
    expect(registered.errors).toBeUndefined();
    const model = registered.data?.registerModel as { id: string; version: string } | undefined;
    expect(model?.id).toBeTruthy();
    expect(model?.version).toBe('1');
    const ready = await fetch(`http://127.0.0.1:${gatewayPort}/readyz`);
    expect(ready.status).toBe(200);
    // Its published key set holds the attestation-result keys of the separate processes too
    // (hardware-attestation's EAR keys and model-attestation's DSSE keys).
    const jwks = (await (
      await fetch(`http://127.0.0.1:${gatewayPort}/.well-known/jwks.json`)
    ).json()) as { keys: { kid: string }[] };
    const kids = jwks.keys.map((k) => k.kid);
    for (const port of [attestationPort, modelAttestationPort]) {
      const own = (await (
        await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`)
      ).json()) as { keys: { kid: string }[] };
      expect(own.keys).toHaveLength(1);
      expect(kids).toContain(own.keys[0]?.kid);
    }
  }, 180_000);
});
