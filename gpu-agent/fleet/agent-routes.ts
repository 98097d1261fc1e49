import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { AccessTokenVerifier } from '../../platform/auth/access-token.ts';
import { bearerCredential } from '../../platform/auth/access-token.ts';
import type { ApiKeyExchange } from '../../platform/auth/api-key-exchange.ts';
import type { Principal } from '../../platform/auth/principal.ts';
import { roleAtLeast } from '../../platform/auth/roles.ts';
import { DomainError } from '../../platform/errors.ts';
import { HttpError, readBody, sendJson, type Route } from '../../platform/http/server.ts';
import type { NodeSnapshot } from '../model.ts';
import type { FleetState, NodeRecord } from './fleet-state.ts';
import type { MigCommandQueue } from './mig-commands.ts';
import { migInstanceSchema, nodeSnapshotSchema } from './snapshot-schema.ts';

/**
 * The protocol node agents speak with the gpu-agent subgraph: JSON over HTTP, authenticated with
 * an API key (`Bearer lb_…`, OPERATOR or stronger) or an access token of the node's organization.
 *
 *   POST /agent/v1/enroll                          { hostname } → { nodeId, intervalSeconds }
 *   POST /agent/v1/nodes/:id/snapshot              { snapshot } → 204
 *   GET  /agent/v1/nodes/:id/commands?waitSeconds  → { commands } (long poll, at most 30 s)
 *   POST /agent/v1/nodes/:id/commands/:cid/result  { outcome, snapshot? } → 204
 *
 * Plain HTTP keeps agents simple (no socket to keep alive through proxies) and lets any replica
 * serve any agent: commands live in the database, not in a connection.
 */
export interface AgentRoutesDeps {
  fleet: FleetState;
  commands: MigCommandQueue;
  verifyAccessToken: AccessTokenVerifier;
  apiKeys: ApiKeyExchange;
  intervalSeconds: number;
  maxSnapshotBytes: number;
}

const enrollSchema = z.object({
  hostname: z
    .string()
    .min(1)
    .max(253)
    .regex(/^[A-Za-z0-9][A-Za-z0-9.-]*$/, 'must be a host name (letters, digits, "." and "-")'),
});
const snapshotBodySchema = z.object({ snapshot: nodeSnapshotSchema });
const resultBodySchema = z.object({
  outcome: z.discriminatedUnion('ok', [
    z.object({ ok: z.literal(true), instance: migInstanceSchema.nullable().optional() }),
    z.object({
      ok: z.literal(false),
      reason: z.enum([
        'INSUFFICIENT_RESOURCES',
        'MIG_DISABLED',
        'MIG_NOT_SUPPORTED',
        'IN_USE',
        'UNKNOWN_PROFILE',
        'GPU_NOT_FOUND',
        'INSTANCE_NOT_FOUND',
        'PERMISSION_DENIED',
        'COMMAND_FAILED',
      ]),
      message: z.string().max(10_000),
    }),
  ]),
  snapshot: nodeSnapshotSchema.optional(),
});
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const maxWaitSeconds = 30;

export function agentRoutes(deps: AgentRoutesDeps): Route[] {
  return [
    {
      path: '/agent/v1/*',
      name: '/agent/v1',
      handler: async (req, res, scope) => {
        const principal = await authenticateAgent(req, deps);
        const parts = scope.url.pathname.split('/').filter(Boolean).slice(2);
        const method = req.method ?? 'GET';

        if (parts.length === 1 && parts[0] === 'enroll') {
          expectMethod(method, 'POST');
          const { hostname } = await readJson(req, enrollSchema, 16_384);
          const node = await deps.fleet.enroll(
            principal.organizationId,
            hostname,
            principal.subject,
          );
          scope.logger.info(
            { nodeId: node.id, hostname, organizationId: node.organizationId },
            'GPU node enrolled',
          );
          sendJson(res, 200, { nodeId: node.id, intervalSeconds: deps.intervalSeconds });
          return;
        }
        if (parts[0] !== 'nodes' || !parts[1])
          throw new HttpError(404, 'NOT_FOUND', `No route for ${scope.url.pathname}`);
        const node = ownedNode(deps, principal, parts[1]);

        if (parts.length === 3 && parts[2] === 'snapshot') {
          expectMethod(method, 'POST');
          const { snapshot } = await readJson(req, snapshotBodySchema, deps.maxSnapshotBytes);
          await deps.fleet.report(node, checkHostname(node, snapshot));
          res.writeHead(204).end();
          return;
        }
        if (parts.length === 3 && parts[2] === 'commands') {
          expectMethod(method, 'GET');
          const wait = Number(scope.url.searchParams.get('waitSeconds') ?? '0');
          if (!Number.isFinite(wait) || wait < 0 || wait > maxWaitSeconds) {
            throw new HttpError(
              400,
              'BAD_USER_INPUT',
              `waitSeconds must be between 0 and ${maxWaitSeconds}`,
            );
          }
          const abort = new AbortController();
          res.once('close', () => abort.abort());
          const commands = await deps.commands.claim(node.id, wait * 1000, abort.signal);
          if (!res.destroyed) sendJson(res, 200, { commands });
          return;
        }
        if (parts.length === 5 && parts[2] === 'commands' && parts[4] === 'result') {
          expectMethod(method, 'POST');
          const commandId = parts[3] ?? '';
          if (!uuidPattern.test(commandId))
            throw new HttpError(404, 'NOT_FOUND', 'Command not found');
          const body = await readJson(req, resultBodySchema, deps.maxSnapshotBytes);
          // The new state first: a caller querying right after the mutation must see it.
          if (body.snapshot) await deps.fleet.report(node, checkHostname(node, body.snapshot));
          const done = await deps.commands.complete(node.id, commandId, body.outcome);
          if (!done)
            throw new HttpError(
              409,
              'CONFLICT',
              'Command is not running on this node (expired or already answered)',
            );
          res.writeHead(204).end();
          return;
        }
        throw new HttpError(404, 'NOT_FOUND', `No route for ${scope.url.pathname}`);
      },
    },
  ];
}

async function authenticateAgent(req: IncomingMessage, deps: AgentRoutesDeps): Promise<Principal> {
  const credential = bearerCredential(req.headers.authorization);
  if (!credential)
    throw new HttpError(401, 'UNAUTHENTICATED', 'Send an API key as "Authorization: Bearer lb_…"');
  let principal: Principal;
  try {
    principal = await deps.verifyAccessToken(await deps.apiKeys.accessTokenFor(credential));
  } catch (error) {
    if (error instanceof DomainError) throw new HttpError(401, 'UNAUTHENTICATED', error.message);
    throw error;
  }
  if (!roleAtLeast(principal.role, 'OPERATOR')) {
    throw new HttpError(
      403,
      'FORBIDDEN',
      `Agents need the OPERATOR role or stronger; this credential has ${principal.role}`,
    );
  }
  return principal;
}

function ownedNode(deps: AgentRoutesDeps, principal: Principal, id: string): NodeRecord {
  // Another organization's node answers exactly like a missing one.
  const node = uuidPattern.test(id) ? deps.fleet.node(principal.organizationId, id) : null;
  if (!node) throw new HttpError(404, 'NOT_FOUND', 'GPU node not found; enroll first');
  return node;
}

function checkHostname(node: NodeRecord, snapshot: NodeSnapshot): NodeSnapshot {
  if (snapshot.hostname !== node.hostname) {
    throw new HttpError(
      400,
      'BAD_USER_INPUT',
      `snapshot.hostname is "${snapshot.hostname}" but this node enrolled as "${node.hostname}"`,
    );
  }
  return snapshot;
}

function expectMethod(actual: string, expected: string): void {
  if (actual !== expected) throw new HttpError(405, 'METHOD_NOT_ALLOWED', `Use ${expected}`);
}

async function readJson<T>(
  req: IncomingMessage,
  schema: z.ZodType<T>,
  maxBytes: number,
): Promise<T> {
  const raw = await readBody(req, maxBytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'BAD_USER_INPUT', 'Body is not valid JSON');
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    const issues = result.error.issues
      .slice(0, 10)
      .map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`);
    throw new HttpError(400, 'BAD_USER_INPUT', `Invalid body: ${issues.join('; ')}`);
  }
  return result.data;
}
