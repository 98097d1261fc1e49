-- CreateEnum
CREATE TYPE "AttestationStatus" AS ENUM ('PENDING', 'RUNNING', 'VERIFIED', 'FAILED', 'ERROR');

-- CreateEnum
CREATE TYPE "Verdict" AS ENUM ('AFFIRMING', 'WARNING', 'CONTRAINDICATED', 'NONE');

-- CreateEnum
CREATE TYPE "LifecycleStatus" AS ENUM ('ACTIVE', 'SUPERSEDED', 'DEPRECATED');

-- CreateTable
CREATE TABLE "Challenge" (
    "nonce" TEXT NOT NULL,
    "organizationId" UUID NOT NULL,
    "gpuUuid" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "consumedAt" TIMESTAMP(3),
    "consumedBy" UUID,

    CONSTRAINT "Challenge_pkey" PRIMARY KEY ("nonce")
);

-- CreateTable
CREATE TABLE "Attestation" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "gpuUuid" TEXT NOT NULL,
    "status" "AttestationStatus" NOT NULL DEFAULT 'PENDING',
    "verdict" "Verdict",
    "claims" JSONB NOT NULL DEFAULT '[]',
    "token" TEXT,
    "reportKey" TEXT,
    "policyId" TEXT,
    "policyVersion" INTEGER,
    "referenceValueId" UUID,
    "error" TEXT,
    "submittedBy" TEXT NOT NULL,
    "trigger" TEXT NOT NULL DEFAULT 'request',
    "submittedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "completedAt" TIMESTAMP(3),
    "driftDetectedAt" TIMESTAMP(3),
    "drift" JSONB,

    CONSTRAINT "Attestation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AttestationJob" (
    "attestationId" UUID NOT NULL,
    "input" JSONB NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "runAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lockedBy" TEXT,
    "lockedUntil" TIMESTAMP(3),
    "lastError" TEXT,
    "doneAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AttestationJob_pkey" PRIMARY KEY ("attestationId")
);

-- CreateTable
CREATE TABLE "AuditEntry" (
    "id" BIGSERIAL NOT NULL,
    "organizationId" UUID NOT NULL,
    "attestationId" UUID,
    "action" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "detail" JSONB NOT NULL DEFAULT '{}',
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AuditEntry_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "OutboxEvent" (
    "id" BIGSERIAL NOT NULL,
    "topic" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "publishedAt" TIMESTAMP(3),

    CONSTRAINT "OutboxEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ReferenceValue" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "gpuModel" TEXT NOT NULL,
    "content" JSONB NOT NULL,
    "status" "LifecycleStatus" NOT NULL DEFAULT 'ACTIVE',
    "description" TEXT,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "supersededAt" TIMESTAMP(3),
    "deprecatedAt" TIMESTAMP(3),

    CONSTRAINT "ReferenceValue_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AppraisalPolicy" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "policyId" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "document" JSONB NOT NULL,
    "status" "LifecycleStatus" NOT NULL DEFAULT 'ACTIVE',
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "supersededAt" TIMESTAMP(3),
    "deprecatedAt" TIMESTAMP(3),

    CONSTRAINT "AppraisalPolicy_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SigningKey" (
    "kid" TEXT NOT NULL,
    "alg" TEXT NOT NULL,
    "publicJwk" JSONB NOT NULL,
    "privateJwkEncrypted" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "retiredAt" TIMESTAMP(3),
    "expiresAt" TIMESTAMP(3),

    CONSTRAINT "SigningKey_pkey" PRIMARY KEY ("kid")
);

-- CreateIndex
CREATE INDEX "Challenge_organizationId_createdAt_idx" ON "Challenge"("organizationId", "createdAt");

-- CreateIndex
CREATE INDEX "Attestation_organizationId_submittedAt_idx" ON "Attestation"("organizationId", "submittedAt" DESC);

-- CreateIndex
CREATE INDEX "Attestation_organizationId_gpuUuid_submittedAt_idx" ON "Attestation"("organizationId", "gpuUuid", "submittedAt" DESC);

-- CreateIndex
CREATE INDEX "Attestation_organizationId_status_idx" ON "Attestation"("organizationId", "status");

-- CreateIndex
CREATE INDEX "AttestationJob_doneAt_runAt_idx" ON "AttestationJob"("doneAt", "runAt");

-- CreateIndex
CREATE INDEX "AuditEntry_organizationId_at_idx" ON "AuditEntry"("organizationId", "at");

-- CreateIndex
CREATE INDEX "AuditEntry_attestationId_id_idx" ON "AuditEntry"("attestationId", "id");

-- CreateIndex
CREATE INDEX "OutboxEvent_publishedAt_id_idx" ON "OutboxEvent"("publishedAt", "id");

-- CreateIndex
CREATE INDEX "ReferenceValue_organizationId_status_idx" ON "ReferenceValue"("organizationId", "status");

-- CreateIndex
CREATE UNIQUE INDEX "ReferenceValue_organizationId_name_version_key" ON "ReferenceValue"("organizationId", "name", "version");

-- CreateIndex
CREATE INDEX "AppraisalPolicy_organizationId_status_idx" ON "AppraisalPolicy"("organizationId", "status");

-- CreateIndex
CREATE UNIQUE INDEX "AppraisalPolicy_organizationId_policyId_version_key" ON "AppraisalPolicy"("organizationId", "policyId", "version");

-- AddForeignKey
ALTER TABLE "AttestationJob" ADD CONSTRAINT "AttestationJob_attestationId_fkey" FOREIGN KEY ("attestationId") REFERENCES "Attestation"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AuditEntry" ADD CONSTRAINT "AuditEntry_attestationId_fkey" FOREIGN KEY ("attestationId") REFERENCES "Attestation"("id") ON DELETE CASCADE ON UPDATE CASCADE;
