-- CreateEnum
CREATE TYPE "ModelAttestationStatus" AS ENUM ('PENDING', 'RUNNING', 'VERIFIED', 'FAILED', 'ERROR');

-- CreateTable
CREATE TABLE "Model" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "pinnedKeyId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Model_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ModelVersion" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "modelId" UUID NOT NULL,
    "version" TEXT NOT NULL,
    "license" TEXT NOT NULL,
    "format" TEXT NOT NULL,
    "modelCard" JSONB NOT NULL,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ModelVersion_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ModelFile" (
    "id" UUID NOT NULL,
    "modelVersionId" UUID NOT NULL,
    "path" TEXT NOT NULL,
    "declaredBytes" BIGINT NOT NULL,
    "sizeBytes" BIGINT,
    "objectKey" TEXT NOT NULL,
    "uploadId" TEXT,
    "uploadedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ModelFile_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ModelSigningKey" (
    "id" TEXT NOT NULL,
    "organizationId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "publicKeyPem" TEXT NOT NULL,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "ModelSigningKey_pkey" PRIMARY KEY ("organizationId","id")
);

-- CreateTable
CREATE TABLE "CompliancePolicy" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "policyId" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "document" JSONB NOT NULL,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "CompliancePolicy_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ModelAttestation" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "modelVersionId" UUID NOT NULL,
    "status" "ModelAttestationStatus" NOT NULL DEFAULT 'PENDING',
    "verdict" TEXT,
    "policyId" TEXT NOT NULL,
    "policyVersion" INTEGER NOT NULL,
    "signatureBundle" JSONB,
    "signatureStatus" TEXT,
    "signerKeyId" TEXT,
    "hashedBytes" BIGINT NOT NULL DEFAULT 0,
    "totalBytes" BIGINT NOT NULL DEFAULT 0,
    "files" JSONB NOT NULL DEFAULT '[]',
    "manifest" JSONB,
    "findings" JSONB NOT NULL DEFAULT '[]',
    "statement" JSONB,
    "envelope" TEXT,
    "error" TEXT,
    "submittedBy" TEXT NOT NULL,
    "submittedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "completedAt" TIMESTAMP(3),

    CONSTRAINT "ModelAttestation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ModelAttestationJob" (
    "attestationId" UUID NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "runAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lockedBy" TEXT,
    "lockedUntil" TIMESTAMP(3),
    "doneAt" TIMESTAMP(3),
    "lastError" TEXT,

    CONSTRAINT "ModelAttestationJob_pkey" PRIMARY KEY ("attestationId")
);

-- CreateTable
CREATE TABLE "AuditEntry" (
    "organizationId" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "action" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "subjectType" TEXT NOT NULL,
    "subjectId" TEXT NOT NULL,
    "detail" JSONB NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "prevHash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "AuditEntry_pkey" PRIMARY KEY ("organizationId","seq")
);

-- CreateTable
CREATE TABLE "AuditCheckpoint" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "hash" TEXT NOT NULL,
    "jws" TEXT NOT NULL,
    "objectKey" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AuditCheckpoint_pkey" PRIMARY KEY ("id")
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
CREATE INDEX "Model_organizationId_createdAt_id_idx" ON "Model"("organizationId", "createdAt", "id");

-- CreateIndex
CREATE UNIQUE INDEX "Model_organizationId_name_key" ON "Model"("organizationId", "name");

-- CreateIndex
CREATE INDEX "ModelVersion_organizationId_idx" ON "ModelVersion"("organizationId");

-- CreateIndex
CREATE UNIQUE INDEX "ModelVersion_modelId_version_key" ON "ModelVersion"("modelId", "version");

-- CreateIndex
CREATE UNIQUE INDEX "ModelFile_modelVersionId_path_key" ON "ModelFile"("modelVersionId", "path");

-- CreateIndex
CREATE UNIQUE INDEX "CompliancePolicy_organizationId_policyId_version_key" ON "CompliancePolicy"("organizationId", "policyId", "version");

-- CreateIndex
CREATE INDEX "ModelAttestation_organizationId_submittedAt_id_idx" ON "ModelAttestation"("organizationId", "submittedAt", "id");

-- CreateIndex
CREATE INDEX "ModelAttestationJob_doneAt_runAt_idx" ON "ModelAttestationJob"("doneAt", "runAt");

-- CreateIndex
CREATE INDEX "AuditCheckpoint_organizationId_seq_idx" ON "AuditCheckpoint"("organizationId", "seq");

-- AddForeignKey
ALTER TABLE "ModelVersion" ADD CONSTRAINT "ModelVersion_modelId_fkey" FOREIGN KEY ("modelId") REFERENCES "Model"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ModelFile" ADD CONSTRAINT "ModelFile_modelVersionId_fkey" FOREIGN KEY ("modelVersionId") REFERENCES "ModelVersion"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ModelAttestationJob" ADD CONSTRAINT "ModelAttestationJob_attestationId_fkey" FOREIGN KEY ("attestationId") REFERENCES "ModelAttestation"("id") ON DELETE CASCADE ON UPDATE CASCADE;
