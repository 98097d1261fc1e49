import { DomainError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { ReservableQuotaKind as QuotaKind } from './kinds.ts';

export interface QuotaClaim {
  kind: QuotaKind;
  amount: number;
  /** Seconds the claim counts before it expires uncommitted (the resources default otherwise). */
  ttlSeconds?: number;
  idempotencyKey?: string;
}

/** A claim granted by the resources subgraph; null when metering is unavailable (fail open). */
export type QuotaHold = { id: string; kind: QuotaKind } | null;

export interface QuotaClient {
  /** Claims `amount` of `kind` for the caller's organization; QUOTA_EXCEEDED when it is not there. */
  reserve(authorization: string, claim: QuotaClaim): Promise<QuotaHold>;
  /** Turns a claim into use, naming what it was spent on (the subject an end event releases). */
  commit(authorization: string, hold: QuotaHold, subject: string): Promise<void>;
  /** Gives a claim back (the work it was for was not done). */
  release(authorization: string, hold: QuotaHold): Promise<void>;
}

interface ErrorBody {
  error?: { code?: string; message?: string; [detail: string]: unknown };
}

/**
 * The client other subgraphs use to ask the resources subgraph before consuming, on the caller's
 * behalf (the caller's own token decides the organization and tier). Only QUOTA_EXCEEDED stops
 * the caller: when the resources subgraph cannot be reached the work goes ahead unmetered, logged
 * once per outage, because billing being down must not stop attestations. Commit and release are
 * best effort: an unconfirmed reservation expires by itself.
 */
export function createQuotaClient(resourcesUrl: string | null, logger: Logger): QuotaClient {
  const base = resourcesUrl?.replace(/\/graphql$/, '') ?? null;
  let failing = false;

  const call = async (path: string, authorization: string, body: unknown) => {
    if (!base) return null;
    try {
      const response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(3_000),
      });
      const json = (await response.json().catch(() => ({}))) as ErrorBody & { id?: string };
      if (failing) logger.info('quota checks reach the resources subgraph again');
      failing = false;
      return { status: response.status, json };
    } catch (err) {
      if (!failing)
        logger.warn({ err }, 'resources subgraph unreachable: consuming without quota checks');
      failing = true;
      return null;
    }
  };

  return {
    async reserve(authorization, claim) {
      const answer = await call('/quota/reservations', authorization, claim);
      if (!answer) return null;
      const { status, json } = answer;
      if (status === 201 && typeof json.id === 'string') return { id: json.id, kind: claim.kind };
      if (json.error?.code === 'QUOTA_EXCEEDED') {
        const { code: _code, message, ...details } = json.error;
        throw new DomainError('QUOTA_EXCEEDED', message ?? `${claim.kind} quota exceeded`, details);
      }
      logger.warn(
        { status, error: json.error, kind: claim.kind },
        'quota reservation refused; consuming unmetered',
      );
      return null;
    },
    async commit(authorization, hold, subject) {
      if (!hold) return;
      const answer = await call(`/quota/reservations/${hold.id}/commit`, authorization, {
        subject,
      });
      if (answer && answer.status !== 200) {
        logger.warn(
          { status: answer.status, error: answer.json.error, hold },
          'quota commit refused',
        );
      }
    },
    async release(authorization, hold) {
      if (!hold) return;
      await call(`/quota/reservations/${hold.id}/release`, authorization, {});
    },
  };
}
