import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { AccessTokenVerifier } from '../../platform/auth/access-token.ts';
import { bearerCredential } from '../../platform/auth/access-token.ts';
import type { Principal } from '../../platform/auth/principal.ts';
import { DomainError, unauthenticated } from '../../platform/errors.ts';
import {
  HttpError,
  readBody,
  sendJson,
  type RequestScope,
  type Route,
} from '../../platform/http/server.ts';
import type { QuotaReservation } from '../../generated/prisma/resources/client.ts';
import { reservableKinds, type QuotaService } from './domain/quotas.ts';

const reserveBody = z.object({
  kind: z.enum(reservableKinds),
  amount: z.number().positive().finite(),
  ttlSeconds: z.number().int().min(1).max(86_400).nullish(),
  idempotencyKey: z.string().min(1).max(200).nullish(),
  subject: z.string().min(1).max(200).nullish(),
});
const commitBody = z.object({
  amount: z.number().nonnegative().finite().nullish(),
  subject: z.string().min(1).max(200).nullish(),
});
const releaseBody = z.object({ usedAmount: z.number().nonnegative().finite().optional() });

const statusOf: Record<string, number> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  QUOTA_EXCEEDED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
};

function view(reservation: QuotaReservation) {
  return {
    id: reservation.id,
    kind: reservation.kind,
    amount: reservation.amount,
    state: reservation.state,
    window: reservation.window,
    subject: reservation.subject,
    expiresAt: reservation.expiresAt.toISOString(),
  };
}

async function parse<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  const raw = await readBody(req, 16 * 1024);
  let json: unknown;
  try {
    json = raw.length === 0 ? {} : JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'BAD_USER_INPUT', 'The body is not JSON');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HttpError(
      400,
      'BAD_USER_INPUT',
      `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

/**
 * The quota API other subgraphs call before consuming, on the caller's behalf (the caller's own
 * access token, so the organization and tier come from it, never from the body):
 *
 * - `POST /quota/reservations` `{kind, amount, ttlSeconds?, idempotencyKey?, subject?}` → 201
 * - `POST /quota/reservations/<id>/commit` `{amount?, subject?}` → 200
 * - `POST /quota/reservations/<id>/release` `{usedAmount?}` → 200
 *
 * Errors are `{error: {code, message, …}}`; QUOTA_EXCEEDED (403) carries `limit`, `used`,
 * `reserved` and `requested`. Not routed by the gateway: only services reach it.
 */
export function quotaRoutes(quotas: QuotaService, verify: AccessTokenVerifier): Route[] {
  const authenticated =
    (
      handle: (
        principal: Principal,
        req: IncomingMessage,
        scope: RequestScope,
      ) => Promise<[number, unknown]>,
    ) =>
    async (req: IncomingMessage, res: ServerResponse, scope: RequestScope) => {
      try {
        const token = bearerCredential(req.headers.authorization);
        if (!token) throw unauthenticated('Authorization: Bearer <access token> is required');
        const principal = await verify(token);
        const [status, body] = await handle(principal, req, scope);
        sendJson(res, status, body);
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        sendJson(res, statusOf[error.code] ?? 400, {
          error: { code: error.code, message: error.message, ...error.details },
        });
      }
    };

  return [
    {
      path: '/quota/reservations',
      methods: ['POST'],
      handler: authenticated(async (principal, req) => {
        const input = await parse(req, reserveBody);
        const reservation = await quotas.reserve(principal.organizationId, principal.tier, input);
        return [201, view(reservation)];
      }),
    },
    {
      path: '/quota/reservations/*',
      name: '/quota/reservations/:id',
      methods: ['POST'],
      handler: authenticated(async (principal, req, scope) => {
        const match = /^\/quota\/reservations\/([^/]+)\/(commit|release)$/.exec(scope.url.pathname);
        if (!match) throw new HttpError(404, 'NOT_FOUND', `No route for ${scope.url.pathname}`);
        const [, id = '', action] = match;
        if (action === 'commit') {
          const body = await parse(req, commitBody);
          return [200, view(await quotas.commit(principal.organizationId, id, body))];
        }
        const body = await parse(req, releaseBody);
        return [200, view(await quotas.release(principal.organizationId, id, body))];
      }),
    },
  ];
}
