-- CreateEnum
CREATE TYPE "MigCommandKind" AS ENUM ('CREATE', 'DESTROY');

-- CreateEnum
CREATE TYPE "MigCommandStatus" AS ENUM ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'EXPIRED');

-- CreateTable
CREATE TABLE "GpuNode" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "hostname" TEXT NOT NULL,
    "enrolledBy" TEXT NOT NULL,
    "enrolledAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "snapshot" JSONB,

    CONSTRAINT "GpuNode_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "MigCommand" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "nodeId" UUID NOT NULL,
    "gpuUuid" TEXT NOT NULL,
    "kind" "MigCommandKind" NOT NULL,
    "profile" TEXT,
    "gpuInstanceId" INTEGER,
    "status" "MigCommandStatus" NOT NULL DEFAULT 'PENDING',
    "requestedBy" TEXT NOT NULL,
    "requestedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "completedAt" TIMESTAMP(3),
    "failureReason" TEXT,
    "message" TEXT,
    "result" JSONB,

    CONSTRAINT "MigCommand_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "GpuNode_organizationId_idx" ON "GpuNode"("organizationId");

-- CreateIndex
CREATE UNIQUE INDEX "GpuNode_organizationId_hostname_key" ON "GpuNode"("organizationId", "hostname");

-- CreateIndex
CREATE INDEX "MigCommand_nodeId_status_idx" ON "MigCommand"("nodeId", "status");

-- CreateIndex
CREATE INDEX "MigCommand_organizationId_requestedAt_idx" ON "MigCommand"("organizationId", "requestedAt");

-- AddForeignKey
ALTER TABLE "MigCommand" ADD CONSTRAINT "MigCommand_nodeId_fkey" FOREIGN KEY ("nodeId") REFERENCES "GpuNode"("id") ON DELETE CASCADE ON UPDATE CASCADE;
