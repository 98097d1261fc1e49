import {
  Prisma,
  type PrismaClient,
} from '../../../generated/prisma/hardware-attestation/client.ts';
import { hardwareAttestationStatusTopic } from '../../../platform/events/topics.ts';
import { recordFromEvent, type AttestationRecord } from './records.ts';

/**
 * The pipeline's hot statements, each one SQL statement (CTEs) instead of a transaction of
 * Prisma calls: a Prisma query costs ~1 ms of CPU, a raw one ~0.4 ms, and a submit, a claim and a
 * finish would otherwise take 5–7 each. One statement is also atomic without a transaction: the
 * status change, its audit entry and its outbox event exist together or not at all.
 */

type Sql = ReturnType<typeof Prisma.sql>;
type Client = Pick<PrismaClient, '$queryRaw'> | Prisma.TransactionClient;

/** Prisma stores DateTime as UTC in `timestamp(3)` columns; every instant goes in that way. */
function utc(date: Date): Sql {
  return Prisma.sql`(${date.toISOString()}::timestamptz AT TIME ZONE 'UTC')`;
}

const dbNow = Prisma.sql`(now() AT TIME ZONE 'UTC')`;

function iso(column: Sql): Sql {
  return Prisma.sql`to_char(${column}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/** An attestation row of alias `r` as the JSON its status events carry (see records.ts). */
function recordJson(alias: string): Sql {
  const c = (column: string) => Prisma.raw(`${alias}."${column}"`);
  return Prisma.sql`jsonb_build_object(
    'id', ${c('id')}, 'organizationId', ${c('organizationId')}, 'gpuUuid', ${c('gpuUuid')},
    'status', ${c('status')}, 'verdict', ${c('verdict')}, 'claims', ${c('claims')},
    'token', ${c('token')}, 'reportKey', ${c('reportKey')}, 'policyId', ${c('policyId')},
    'policyVersion', ${c('policyVersion')}, 'referenceValueId', ${c('referenceValueId')},
    'error', ${c('error')}, 'submittedBy', ${c('submittedBy')}, 'trigger', ${c('trigger')},
    'submittedAt', ${iso(c('submittedAt'))}, 'startedAt', ${iso(c('startedAt'))},
    'completedAt', ${iso(c('completedAt'))}, 'driftDetectedAt', ${iso(c('driftDetectedAt'))},
    'drift', ${c('drift')})`;
}

function toRecord(json: unknown): AttestationRecord {
  const record = recordFromEvent(json);
  if (!record) throw new Error('the database returned no attestation row');
  return record;
}

/** Inserts a PENDING attestation, its job, its two audit entries and its status event. */
export async function insertSubmission(
  client: Client,
  row: {
    id: string;
    organizationId: string;
    gpuUuid: string;
    submittedBy: string;
    trigger: string;
    policyId: string;
    policyVersion: number;
    input: unknown;
    submittedDetail: Record<string, unknown>;
  },
): Promise<AttestationRecord> {
  const at = utc(new Date());
  const [result] = await client.$queryRaw<{ payload: unknown }[]>`
    WITH a AS (
      INSERT INTO "Attestation"
        (id, "organizationId", "gpuUuid", status, claims, "submittedBy", trigger, "submittedAt",
         "policyId", "policyVersion")
      VALUES (${row.id}::uuid, ${row.organizationId}::uuid, ${row.gpuUuid}, 'PENDING', '[]'::jsonb,
        ${row.submittedBy}, ${row.trigger}, ${at}, ${row.policyId}, ${row.policyVersion}::int)
      RETURNING *
    ), j AS (
      INSERT INTO "AttestationJob" ("attestationId", input, attempts, "runAt", "createdAt")
      SELECT id, ${JSON.stringify(row.input)}::jsonb, 0, ${at}, ${at} FROM a
    ), au AS (
      INSERT INTO "AuditEntry" ("organizationId", "attestationId", action, actor, detail, at)
      SELECT a."organizationId", a.id, x.action, ${row.submittedBy}, x.detail, ${at}
      FROM a CROSS JOIN (VALUES
        (1, 'attestation.submitted', ${JSON.stringify(row.submittedDetail)}::jsonb),
        (2, 'attestation.status', '{"status":"PENDING"}'::jsonb)) AS x(n, action, detail)
      ORDER BY x.n
    )
    INSERT INTO "OutboxEvent" (topic, payload, "createdAt")
    SELECT ${hardwareAttestationStatusTopic}, ${recordJson('a')}, ${at} FROM a
    RETURNING payload`;
  return toRecord(result?.payload);
}

/** A job a worker now holds, with its attestation as of the claim. */
export interface ClaimedRow {
  attestationId: string;
  attempts: number;
  input: unknown;
  record: AttestationRecord;
  /** Whether this claim moved the attestation from PENDING to RUNNING. */
  started: boolean;
}

/**
 * Claims up to `limit` due jobs (`FOR UPDATE SKIP LOCKED`, lease until `leaseSeconds` from now)
 * and moves their attestations from PENDING to RUNNING with audit entries and status events.
 */
export async function claimJobs(
  client: Client,
  options: { limit: number; workerId: string; leaseSeconds: number },
): Promise<ClaimedRow[]> {
  const rows = await client.$queryRaw<
    { attestationId: string; attempts: number; input: unknown; record: unknown; started: boolean }[]
  >`
    WITH due AS (
      SELECT "attestationId" FROM "AttestationJob"
      WHERE "doneAt" IS NULL AND "runAt" <= ${dbNow}
        AND ("lockedUntil" IS NULL OR "lockedUntil" < ${dbNow})
      ORDER BY "runAt"
      LIMIT ${options.limit}::int
      FOR UPDATE SKIP LOCKED
    ), claimed AS (
      UPDATE "AttestationJob" j
      SET "lockedBy" = ${options.workerId},
          "lockedUntil" = ${dbNow} + make_interval(secs => ${options.leaseSeconds}::int),
          attempts = j.attempts + 1
      FROM due WHERE j."attestationId" = due."attestationId"
      RETURNING j."attestationId", j.attempts, j.input
    ), started AS (
      UPDATE "Attestation" a SET status = 'RUNNING', "startedAt" = ${dbNow}
      FROM claimed WHERE a.id = claimed."attestationId" AND a.status = 'PENDING'
      RETURNING a.*
    ), au AS (
      INSERT INTO "AuditEntry" ("organizationId", "attestationId", action, actor, detail, at)
      SELECT s."organizationId", s.id, 'attestation.status', ${`worker:${options.workerId}`},
        '{"status":"RUNNING","attempt":1}'::jsonb, ${dbNow}
      FROM started s
    ), ev AS (
      INSERT INTO "OutboxEvent" (topic, payload, "createdAt")
      SELECT ${hardwareAttestationStatusTopic}, ${recordJson('s')}, ${dbNow} FROM started s
    )
    SELECT c."attestationId"::text AS "attestationId", c.attempts, c.input,
      CASE WHEN s.id IS NOT NULL THEN ${recordJson('s')} ELSE ${recordJson('a')} END AS record,
      s.id IS NOT NULL AS started
    FROM claimed c
    JOIN "Attestation" a ON a.id = c."attestationId"
    LEFT JOIN started s ON s.id = c."attestationId"`;
  return rows.map((row) => ({
    attestationId: row.attestationId,
    attempts: Number(row.attempts),
    input: row.input,
    record: toRecord(row.record),
    started: row.started,
  }));
}

/**
 * Stores an attestation's final status with its audit entry and status event, only while
 * `workerId` still holds the job (a worker whose lease ran out and whose job was claimed again
 * changes nothing). Returns the final record, or null when the job was not held.
 */
export async function finishJob(
  client: Client,
  options: {
    attestationId: string;
    workerId: string;
    status: 'VERIFIED' | 'FAILED' | 'ERROR';
    verdict: string | null;
    claims: unknown;
    token: string | null;
    reportKey: string | null;
    error: string | null;
    referenceValueId: string | null;
    auditDetail: Record<string, unknown>;
  },
): Promise<AttestationRecord | null> {
  const at = utc(new Date());
  const claims = options.claims === undefined ? null : JSON.stringify(options.claims);
  const [row] = await client.$queryRaw<{ record: unknown }[]>`
    WITH held AS (
      UPDATE "AttestationJob"
      SET "doneAt" = ${at}, "lockedUntil" = NULL, "lastError" = ${options.error}
      WHERE "attestationId" = ${options.attestationId}::uuid
        AND "lockedBy" = ${options.workerId} AND "doneAt" IS NULL
      RETURNING "attestationId"
    ), fin AS (
      UPDATE "Attestation" a
      SET status = ${options.status}::"AttestationStatus",
          verdict = ${options.verdict}::"Verdict",
          claims = COALESCE(${claims}::jsonb, a.claims),
          token = ${options.token}, "reportKey" = ${options.reportKey}, error = ${options.error},
          "referenceValueId" = ${options.referenceValueId}::uuid, "completedAt" = ${at}
      FROM held WHERE a.id = held."attestationId" AND a.status IN ('PENDING', 'RUNNING')
      RETURNING a.*
    ), au AS (
      INSERT INTO "AuditEntry" ("organizationId", "attestationId", action, actor, detail, at)
      SELECT f."organizationId", f.id, 'attestation.status', ${`worker:${options.workerId}`},
        ${JSON.stringify(options.auditDetail)}::jsonb || jsonb_build_object('status', f.status),
        ${at}
      FROM fin f
    ), ev AS (
      INSERT INTO "OutboxEvent" (topic, payload, "createdAt")
      SELECT ${hardwareAttestationStatusTopic}, ${recordJson('f')}, ${at} FROM fin f
    )
    SELECT ${recordJson('f')} AS record FROM fin f`;
  return row ? toRecord(row.record) : null;
}
