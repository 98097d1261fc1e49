import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/config.ts';
import {
  errorCode,
  newAccount,
  signUp,
  signUpMutation,
  startTestSupergraph,
  type TestSupergraph,
} from '../support/supergraph.ts';
import { loginMutation } from './helpers.ts';

let supergraph: TestSupergraph;
beforeAll(async () => {
  supergraph = await startTestSupergraph();
});
afterAll(async () => {
  await supergraph.stop();
});

const meQuery = /* GraphQL */ `
  {
    me {
      email
      memberships {
        role
        organization {
          name
          tier
        }
      }
    }
  }
`;

describe(`sign-up, login and me through the gateway (${backends.database})`, () => {
  it('signs up, logs in and reads me with the issued token', async () => {
    const account = newAccount('owner');
    const signed = await supergraph.graphql<{
      signUp: { accessToken: string; organization: { name: string; tier: string } };
    }>(signUpMutation, { input: account });
    expect(signed.errors).toBeUndefined();
    expect(signed.data?.signUp.organization).toMatchObject({
      name: account.organizationName,
      tier: 'FREE',
    });

    const login = await supergraph.graphql<{
      login: { accessToken: string; expiresIn: number; user: { email: string } };
    }>(loginMutation, {
      input: { email: account.email.toUpperCase(), password: account.password },
    });
    expect(login.errors).toBeUndefined();
    expect(login.data?.login.user.email).toBe(account.email);
    expect(login.data?.login.expiresIn).toBeLessThanOrEqual(900);

    const me = await supergraph.graphql(meQuery, {}, login.data?.login.accessToken);
    expect(me.data).toEqual({
      me: {
        email: account.email,
        memberships: [
          { role: 'OWNER', organization: { name: account.organizationName, tier: 'FREE' } },
        ],
      },
    });
  });

  it('issues tokens that verify against the gateway JWKS with a plain JOSE library', async () => {
    const user = await signUp(supergraph);
    const jwks = createRemoteJWKSet(new URL(`${supergraph.baseUrl}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(user.accessToken, jwks, {
      issuer: supergraph.runtime.config.issuer,
      audience: 'lotabots-api',
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(protectedHeader.kid).toBe(decodeProtectedHeader(user.accessToken).kid);
    expect(payload).toMatchObject({
      sub: user.user.id,
      org: user.organization.id,
      role: 'OWNER',
      tier: 'FREE',
    });
    expect(typeof payload.jti).toBe('string');
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(900);
  });

  it('answers me with null when no token is sent', async () => {
    const me = await supergraph.graphql(meQuery);
    expect(me.errors).toBeUndefined();
    expect(me.data).toEqual({ me: null });
  });

  it('answers a wrong password and an unknown email with the same error', async () => {
    const user = await signUp(supergraph);
    const wrong = await supergraph.graphql(loginMutation, {
      input: { email: user.email, password: 'not the password at all' },
    });
    const unknown = await supergraph.graphql(loginMutation, {
      input: { email: `nobody-${Date.now()}@example.com`, password: 'not the password at all' },
    });
    expect(errorCode(wrong)).toBe('UNAUTHENTICATED');
    expect(errorCode(unknown)).toBe('UNAUTHENTICATED');
    expect(wrong.errors?.[0]?.message).toBe('Invalid email or password');
    expect(unknown.errors?.[0]?.message).toBe(wrong.errors?.[0]?.message);
  });
});
