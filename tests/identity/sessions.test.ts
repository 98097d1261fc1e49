import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/config.ts';
import {
  errorCode,
  newAccount,
  signUp,
  startTestSupergraph,
  type GraphQLResponse,
  type TestSupergraph,
} from '../support/supergraph.ts';
import {
  decodeJwtPayload,
  loginMutation,
  meQuery,
  refreshMutation,
  type AuthPayload,
} from './helpers.ts';

// Three failures lock an account; nothing else in this file fails a login, so the lower limit
// only matters to the throttling tests.
const maxFailures = 3;

let supergraph: TestSupergraph;
beforeAll(async () => {
  supergraph = await startTestSupergraph({ LOGIN_MAX_FAILURES_PER_ACCOUNT: String(maxFailures) });
});
afterAll(async () => {
  await supergraph.stop();
});

const logoutMutation = /* GraphQL */ `
  mutation Logout($input: LogoutInput!) {
    logout(input: $input)
  }
`;

function refresh(refreshToken: string) {
  return supergraph.graphql<{ refreshToken: AuthPayload }>(refreshMutation, {
    input: { refreshToken },
  });
}

function login(input: { email: string; password: string; organizationId?: string }) {
  return supergraph.graphql<{ login: AuthPayload }>(loginMutation, { input });
}

function expectUnauthenticated(result: GraphQLResponse<unknown>, message?: RegExp): void {
  expect(result.data ?? null).toBeNull();
  expect(errorCode(result)).toBe('UNAUTHENTICATED');
  if (message) expect(result.errors?.[0]?.message).toMatch(message);
}

describe(`refresh tokens (${backends.database}, ${backends.events})`, () => {
  it('rotates: the new pair works and the new access token reads me', async () => {
    const user = await signUp(supergraph, 'rotate');
    const rotated = await refresh(user.refreshToken);
    expect(rotated.errors).toBeUndefined();
    const pair = rotated.data!.refreshToken;
    expect(pair.refreshToken).not.toBe(user.refreshToken);
    expect(pair.accessToken).not.toBe(user.accessToken);
    expect(pair.expiresIn).toBeGreaterThan(0);
    expect(pair.expiresIn).toBeLessThanOrEqual(900);
    expect(pair.user).toEqual({ id: user.user.id, email: user.email });
    expect(pair.organization.id).toBe(user.organization.id);
    expect(decodeJwtPayload(pair.accessToken)).toMatchObject({
      sub: user.user.id,
      org: user.organization.id,
      role: 'OWNER',
    });

    const me = await supergraph.graphql(meQuery, {}, pair.accessToken);
    expect(me.errors).toBeUndefined();
    expect(me.data).toEqual({ me: { id: user.user.id, email: user.email } });

    // The rotated token rotates again.
    const again = await refresh(pair.refreshToken);
    expect(again.errors).toBeUndefined();
    expect(again.data?.refreshToken.refreshToken).not.toBe(pair.refreshToken);
  });

  it('detects reuse of a refresh token and revokes the whole family', async () => {
    const user = await signUp(supergraph, 'reuse');
    const r1 = user.refreshToken;
    const first = await refresh(r1);
    expect(first.errors).toBeUndefined();
    const r2 = first.data!.refreshToken.refreshToken;

    const replay = await refresh(r1);
    expectUnauthenticated(replay, /already used.*revoked/);

    // R2 was never used, but it belongs to the revoked family.
    const legit = await refresh(r2);
    expectUnauthenticated(legit);

    // Another session of the same user (a separate family) is not affected.
    const otherSession = await login({ email: user.email, password: user.password });
    expect(otherSession.errors).toBeUndefined();
    const otherRefresh = await refresh(otherSession.data!.login.refreshToken);
    expect(otherRefresh.errors).toBeUndefined();
  });

  it('rejects unknown and malformed refresh tokens', async () => {
    expectUnauthenticated(await refresh('lbr_thisTokenWasNeverIssuedByTheServer'), /invalid/);
    expectUnauthenticated(await refresh('definitely-not-a-refresh-token'), /invalid/);
    expectUnauthenticated(await refresh(''), /invalid/);
  });

  it('logs out: the refresh token stops working, and a second logout answers false', async () => {
    const user = await signUp(supergraph, 'logout');
    const rotated = await refresh(user.refreshToken);
    expect(rotated.errors).toBeUndefined();
    const current = rotated.data!.refreshToken.refreshToken;

    const out = await supergraph.graphql(logoutMutation, { input: { refreshToken: current } });
    expect(out.errors).toBeUndefined();
    expect(out.data).toEqual({ logout: true });

    expectUnauthenticated(await refresh(current));
    const again = await supergraph.graphql(logoutMutation, { input: { refreshToken: current } });
    expect(again.errors).toBeUndefined();
    expect(again.data).toEqual({ logout: false });

    const unknown = await supergraph.graphql(logoutMutation, {
      input: { refreshToken: 'lbr_neverIssued' },
    });
    expect(unknown.data).toEqual({ logout: false });
  });
});

describe(`login organization choice (${backends.database})`, () => {
  it('answers FORBIDDEN for an organization the user is not a member of', async () => {
    const user = await signUp(supergraph, 'member');
    const stranger = await signUp(supergraph, 'stranger');
    const result = await login({
      email: user.email,
      password: user.password,
      organizationId: stranger.organization.id,
    });
    expect(result.data ?? null).toBeNull();
    expect(errorCode(result)).toBe('FORBIDDEN');
    expect(result.errors?.[0]?.message).toBe('You are not a member of that organization');

    const own = await login({
      email: user.email,
      password: user.password,
      organizationId: user.organization.id,
    });
    expect(own.errors).toBeUndefined();
    expect(own.data?.login.organization.id).toBe(user.organization.id);
    expect(decodeJwtPayload(own.data!.login.accessToken).org).toBe(user.organization.id);
  });
});

describe(`login throttling (${backends.events} counters)`, () => {
  it(`locks an account after ${maxFailures} wrong passwords, even for the right one`, async () => {
    const victim = await signUp(supergraph, 'locked');
    const bystander = await signUp(supergraph, 'bystander');

    for (let attempt = 1; attempt <= maxFailures; attempt += 1) {
      const wrong = await login({ email: victim.email, password: `wrong password ${attempt}!` });
      expectUnauthenticated(wrong, /^Invalid email or password$/);
    }

    const right = await login({ email: victim.email, password: victim.password });
    expect(right.data ?? null).toBeNull();
    expect(errorCode(right)).toBe('RATE_LIMITED');
    expect(right.errors?.[0]?.message).toMatch(/Too many failed sign-in attempts/);
    const retryAfter = right.errors?.[0]?.extensions?.retryAfterSeconds;
    expect(typeof retryAfter).toBe('number');
    expect(retryAfter as number).toBeGreaterThan(0);

    // Case and whitespace do not dodge the lock: the email is normalized first.
    const shouted = await login({
      email: ` ${victim.email.toUpperCase()} `,
      password: victim.password,
    });
    expect(errorCode(shouted)).toBe('RATE_LIMITED');

    // Another account from the same client is unaffected.
    const other = await login({ email: bystander.email, password: bystander.password });
    expect(other.errors).toBeUndefined();
    expect(other.data?.login.user.email).toBe(bystander.email);
  });

  it('throttles an unknown email exactly like a real account (no enumeration)', async () => {
    const ghost = newAccount('ghost').email;
    const failures: GraphQLResponse<unknown>[] = [];
    for (let attempt = 1; attempt <= maxFailures; attempt += 1) {
      failures.push(await login({ email: ghost, password: `wrong password ${attempt}!` }));
    }
    for (const failure of failures) expectUnauthenticated(failure, /^Invalid email or password$/);

    const locked = await login({ email: ghost, password: 'any password at all 123' });
    expect(locked.data ?? null).toBeNull();
    expect(errorCode(locked)).toBe('RATE_LIMITED');
    expect(locked.errors?.[0]?.extensions?.retryAfterSeconds as number).toBeGreaterThan(0);

    // Same message as a locked real account.
    const real = await signUp(supergraph, 'real');
    for (let attempt = 1; attempt <= maxFailures; attempt += 1) {
      await login({ email: real.email, password: `wrong password ${attempt}!` });
    }
    const realLocked = await login({ email: real.email, password: real.password });
    expect(errorCode(realLocked)).toBe('RATE_LIMITED');
    expect(locked.errors?.[0]?.message).toBe(realLocked.errors?.[0]?.message);
  });

  it('clears the failure count on a successful login', async () => {
    const user = await signUp(supergraph, 'recovers');
    for (let attempt = 1; attempt < maxFailures; attempt += 1) {
      expectUnauthenticated(await login({ email: user.email, password: `nope nope ${attempt}!` }));
    }
    const ok = await login({ email: user.email, password: user.password });
    expect(ok.errors).toBeUndefined();
    // Counting starts again from zero: another maxFailures - 1 failures do not lock.
    for (let attempt = 1; attempt < maxFailures; attempt += 1) {
      expectUnauthenticated(await login({ email: user.email, password: `nope again ${attempt}!` }));
    }
    const stillOk = await login({ email: user.email, password: user.password });
    expect(stillOk.errors).toBeUndefined();
  });
});
