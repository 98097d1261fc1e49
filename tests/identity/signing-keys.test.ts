import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/config.ts';
import {
  errorCode,
  signUp,
  startTestSupergraph,
  type GraphQLResponse,
  type TestSupergraph,
} from '../support/supergraph.ts';
import { identityDirect, loginMutation, meQuery, type AuthPayload } from './helpers.ts';

let supergraph: TestSupergraph;
beforeAll(async () => {
  supergraph = await startTestSupergraph();
});
afterAll(async () => {
  await supergraph.stop();
});

async function jwksKids(url: string): Promise<string[]> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  const body = (await response.json()) as { keys: { kid?: string }[] };
  return body.keys.map((key) => key.kid ?? '');
}

/**
 * The gateway caches the key set for up to 10 s; polls (at most ~15 s) until `done` holds for
 * the kids it publishes, and answers the last kids seen either way.
 */
async function pollGatewayJwks(done: (kids: string[]) => boolean): Promise<string[]> {
  const deadline = Date.now() + 15_000;
  let kids = await jwksKids(`${supergraph.baseUrl}/.well-known/jwks.json`);
  while (!done(kids) && Date.now() < deadline) {
    await sleep(500);
    kids = await jwksKids(`${supergraph.baseUrl}/.well-known/jwks.json`);
  }
  return kids;
}

describe(`signing key rotation (${backends.database})`, () => {
  let t1: string;
  let unseen: string;
  let oldKid: string;
  let newKid: string;
  let user: Awaited<ReturnType<typeof signUp>>;

  // The order matters: no token reaches the gateway before the rotation, so the gateway's first
  // key fetch already knows both keys (a refetch for an unknown kid waits out a 1 s cooldown).
  it('keeps tokens of the retired key working after a rotation', async () => {
    user = await signUp(supergraph, 'rotation');
    t1 = user.accessToken;
    oldKid = decodeProtectedHeader(t1).kid!;
    expect(oldKid).toBe(supergraph.identity.keys.activeKid);
    // A second token of the old key that no service sees until the key has been pulled.
    unseen = (
      await supergraph.identity.keys.signAccessToken({
        subject: user.user.id,
        organizationId: user.organization.id,
        role: 'OWNER',
        tier: 'FREE',
        ttlSeconds: 900,
      })
    ).token;
    expect(decodeProtectedHeader(unseen).kid).toBe(oldKid);

    newKid = await supergraph.identity.keys.rotate('test');
    expect(newKid).not.toBe(oldKid);
    expect(supergraph.identity.keys.activeKid).toBe(newKid);

    const me = await supergraph.graphql(meQuery, {}, t1);
    expect(me.errors).toBeUndefined();
    expect(me.data).toEqual({ me: { id: user.user.id, email: user.email } });
  });

  it('signs new tokens with the new key, and they work through the gateway', async () => {
    const login = await supergraph.graphql<{ login: AuthPayload }>(loginMutation, {
      input: { email: user.email, password: user.password },
    });
    expect(login.errors).toBeUndefined();
    const t2 = login.data!.login.accessToken;
    expect(decodeProtectedHeader(t2).kid).toBe(newKid);
    expect(decodeProtectedHeader(t2).kid).not.toBe(oldKid);

    const me = await supergraph.graphql(meQuery, {}, t2);
    expect(me.errors).toBeUndefined();
    expect(me.data).toEqual({ me: { id: user.user.id, email: user.email } });
  });

  it('publishes both keys at the gateway JWKS, and both tokens verify against it', async () => {
    const kids = await pollGatewayJwks((k) => k.includes(oldKid) && k.includes(newKid));
    expect(kids).toEqual(expect.arrayContaining([oldKid, newKid]));

    const login = await supergraph.graphql<{ login: AuthPayload }>(loginMutation, {
      input: { email: user.email, password: user.password },
    });
    const t2 = login.data!.login.accessToken;
    const jwks = createRemoteJWKSet(new URL(`${supergraph.baseUrl}/.well-known/jwks.json`));
    const options = { issuer: supergraph.runtime.config.issuer, audience: 'lotabots-api' };
    for (const [token, kid] of [
      [t1, oldKid],
      [t2, newKid],
    ] as const) {
      const { payload, protectedHeader } = await jwtVerify(token, jwks, options);
      expect(protectedHeader.kid).toBe(kid);
      expect(payload).toMatchObject({
        sub: user.user.id,
        org: user.organization.id,
        role: 'OWNER',
      });
    }
  });

  it('stops publishing and accepting a retired key once its overlap has passed', async () => {
    const retired = await supergraph.identity.deps.prisma.signingKey.findFirst({
      where: { kid: oldKid },
    });
    expect(retired?.retiredAt).not.toBeNull();
    expect(retired!.expiresAt!.getTime()).toBeGreaterThan(Date.now());

    await supergraph.identity.deps.prisma.signingKey.update({
      where: { kid: oldKid },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    await supergraph.identity.keys.reload();

    // The identity service no longer publishes it (the gateway follows within its cache time).
    const identityBase = supergraph.identity.url.replace(/\/graphql$/, '');
    const identityKids = await jwksKids(`${identityBase}/.well-known/jwks.json`);
    expect(identityKids).toContain(newKid);
    expect(identityKids).not.toContain(oldKid);
    const gatewayKids = await pollGatewayJwks((k) => !k.includes(oldKid));
    expect(gatewayKids).toContain(newKid);
    expect(gatewayKids).not.toContain(oldKid);

    // The identity subgraph verifies tokens itself and refuses the old key's token.
    expectUnknownKey(await identityDirect(supergraph, meQuery, {}, unseen));

    // A token of the current key is still fine there.
    const login = await supergraph.graphql<{ login: AuthPayload }>(loginMutation, {
      input: { email: user.email, password: user.password },
    });
    const current = await identityDirect(supergraph, meQuery, {}, login.data!.login.accessToken);
    expect(current.errors).toBeUndefined();
    expect(current.data).toEqual({ me: { id: user.user.id, email: user.email } });
  });

  it('also refuses a token of the pulled key that the subgraph had accepted before', async () => {
    // T1 went through the gateway to the identity subgraph while its key was published. Once
    // the key is gone, remembering "this exact token verified earlier" must not keep it alive.
    expectUnknownKey(await identityDirect(supergraph, meQuery, {}, t1));
  });
});

function expectUnknownKey(result: GraphQLResponse<unknown>): void {
  expect(result.status).toBe(401);
  expect(result.data ?? null).toBeNull();
  expect(errorCode(result)).toBe('UNAUTHENTICATED');
  expect(result.errors?.[0]?.message).toBe('Access token was signed by an unknown key');
}
