import { SignJWT, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyRing } from '../../subgraphs/identity/domain/signing-keys.ts';
import { backends } from '../support/config.ts';
import {
  errorCode,
  newAccount,
  signUp,
  signUpMutation,
  startTestSupergraph,
  type GraphQLResponse,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';
import { base64urlJson, decodeJwtPayload, gatewayWithAuthorization, meQuery } from './helpers.ts';

let supergraph: TestSupergraph;
let owner: SignedUp;
beforeAll(async () => {
  supergraph = await startTestSupergraph();
  owner = await signUp(supergraph, 'hostile');
});
afterAll(async () => {
  await supergraph.stop();
});

function expectBadInput(result: GraphQLResponse<unknown>, field: string, message: RegExp): void {
  expect(result.data ?? null).toBeNull();
  expect(result.errors).toHaveLength(1);
  expect(errorCode(result)).toBe('BAD_USER_INPUT');
  expect(result.errors?.[0]?.extensions?.field).toBe(field);
  expect(result.errors?.[0]?.message).toMatch(message);
}

describe(`sign-up input validation (${backends.database})`, () => {
  it('rejects a malformed email and names the email field', async () => {
    for (const email of [
      'not-an-email',
      'two@@example.com',
      'spaces in@example.com',
      'nodot@localhost',
    ]) {
      const result = await supergraph.graphql(signUpMutation, {
        input: { ...newAccount('bad-email'), email },
      });
      expectBadInput(result, 'email', /email/i);
    }
  });

  it('rejects a password that is too short', async () => {
    const result = await supergraph.graphql(signUpMutation, {
      input: { ...newAccount('short'), password: 'Sh0rt!pw' },
    });
    expectBadInput(result, 'password', /at least 12 characters/);
  });

  it('rejects a common password, whatever its case', async () => {
    for (const password of ['password1234', 'PASSWORD1234', 'qwerty123456']) {
      const result = await supergraph.graphql(signUpMutation, {
        input: { ...newAccount('common'), password },
      });
      expectBadInput(result, 'password', /too common/);
    }
  });

  it('rejects a password that contains the local part of the email', async () => {
    const account = newAccount('zebracorn');
    const local = account.email.split('@')[0]!;
    const result = await supergraph.graphql(signUpMutation, {
      input: { ...account, password: `My ${local.toUpperCase()} secret!` },
    });
    expectBadInput(result, 'password', /must not contain your email/);
  });

  it('answers CONFLICT for a second sign-up with the same email in another case', async () => {
    const account = newAccount('dup');
    const first = await supergraph.graphql(signUpMutation, { input: account });
    expect(first.errors).toBeUndefined();

    const second = await supergraph.graphql(signUpMutation, {
      input: {
        ...newAccount('dup-again'),
        email: `  ${account.email.toUpperCase()} `,
      },
    });
    expect(second.data ?? null).toBeNull();
    expect(errorCode(second)).toBe('CONFLICT');
    expect(second.errors?.[0]?.message).toMatch(/already exists/);

    // The original account is untouched: its password still works.
    const login = await supergraph.graphql(
      /* GraphQL */ `
        mutation ($input: LoginInput!) {
          login(input: $input) {
            user {
              email
            }
          }
        }
      `,
      { input: { email: account.email, password: account.password } },
    );
    expect(login.errors).toBeUndefined();
    expect(login.data).toEqual({ login: { user: { email: account.email } } });
  });
});

describe(`hostile access tokens at the gateway (${backends.database})`, () => {
  async function expectRejected(authorization: string, message: string): Promise<void> {
    const result = await gatewayWithAuthorization(supergraph, meQuery, authorization);
    expect(result.status).toBe(401);
    expect(result.data ?? null).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(result.errors?.[0]?.message).toBe(message);
  }

  const genuineClaims = () => ({
    subject: owner.user.id,
    organizationId: owner.organization.id,
    role: 'OWNER' as const,
    tier: 'FREE' as const,
  });

  it('accepts the genuine token (control)', async () => {
    const result = await gatewayWithAuthorization(
      supergraph,
      meQuery,
      `Bearer ${owner.accessToken}`,
    );
    expect(result.status).toBe(200);
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ me: { id: owner.user.id, email: owner.email } });
  });

  it('rejects an expired token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const { token } = await supergraph.identity.keys.signAccessToken({
      ...genuineClaims(),
      ttlSeconds: 60,
      issuedAt: now - 1000,
    });
    await expectRejected(`Bearer ${token}`, 'Access token expired');
  });

  it('rejects a token whose payload was changed by one character', async () => {
    const [header, payload, signature] = owner.accessToken.split('.') as [string, string, string];
    const index = Math.floor(payload.length / 2);
    const swapped = payload[index] === 'A' ? 'B' : 'A';
    const tampered = `${header}.${payload.slice(0, index)}${swapped}${payload.slice(index + 1)}.${signature}`;
    expect(tampered).not.toBe(owner.accessToken);
    await expectRejected(`Bearer ${tampered}`, 'Access token signature is invalid');
  });

  it('rejects a token whose claims were rewritten to another organization', async () => {
    const other = await signUp(supergraph, 'victim');
    const [header, , signature] = owner.accessToken.split('.') as [string, string, string];
    const claims = { ...decodeJwtPayload(owner.accessToken), org: other.organization.id };
    await expectRejected(
      `Bearer ${header}.${base64urlJson(claims)}.${signature}`,
      'Access token signature is invalid',
    );
  });

  it('rejects an unsigned alg:none token', async () => {
    const header = base64urlJson({ alg: 'none', typ: 'at+jwt' });
    const payload = base64urlJson(decodeJwtPayload(owner.accessToken));
    await expectRejected(`Bearer ${header}.${payload}.`, 'Access token algorithm is not allowed');
  });

  it('rejects a genuinely signed token for another audience', async () => {
    const { token } = await supergraph.identity.keys.signAccessToken({
      ...genuineClaims(),
      ttlSeconds: 300,
      audience: 'some-other-api',
    });
    await expectRejected(`Bearer ${token}`, 'Access token audience is not accepted');
  });

  it('rejects a genuinely signed token from another issuer', async () => {
    // A second key ring over the same database signs with the genuine active key, but claims a
    // different issuer.
    const config = supergraph.runtime.config;
    const impostor = createKeyRing(
      supergraph.identity.deps.prisma,
      {
        ...config,
        issuer: 'https://issuer.example.org',
      },
      supergraph.identity.deps.logger,
    );
    await impostor.reload();
    expect(impostor.activeKid).toBe(supergraph.identity.keys.activeKid);
    const { token } = await impostor.signAccessToken({ ...genuineClaims(), ttlSeconds: 300 });
    expect(decodeJwtPayload(token).iss).toBe('https://issuer.example.org');
    await expectRejected(`Bearer ${token}`, 'Access token issuer is not accepted');
  });

  it('rejects a garbage bearer string', async () => {
    await expectRejected('Bearer not-a-token-at-all', 'Access token is malformed');
    await expectRejected('Bearer a.b.c', 'Access token is malformed');
  });

  it('rejects a Basic authorization header', async () => {
    const basic = Buffer.from(`${owner.email}:${owner.password}`).toString('base64');
    await expectRejected(`Basic ${basic}`, 'Authorization header must be "Bearer <token>"');
  });

  it('rejects a look-alike token signed by a foreign key', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const header = { alg: 'ES256', typ: 'at+jwt' };
    const claims = decodeJwtPayload(owner.accessToken);
    const sign = (kid: string) =>
      new SignJWT(claims).setProtectedHeader({ ...header, kid }).sign(privateKey);

    await expectRejected(
      `Bearer ${await sign('made-up-kid-0123456789')}`,
      'Access token was signed by an unknown key',
    );
    // Claiming the genuine kid does not help: the signature does not match the published key.
    const genuineKid = supergraph.identity.keys.activeKid!;
    await expectRejected(`Bearer ${await sign(genuineKid)}`, 'Access token signature is invalid');
  });
});
