-- CreateEnum
CREATE TYPE "ReservationState" AS ENUM ('RESERVED', 'COMMITTED', 'RELEASED', 'EXPIRED');

-- CreateEnum
CREATE TYPE "AllocationState" AS ENUM ('ACTIVE', 'RELEASED', 'EXPIRED');

-- CreateTable
CREATE TABLE "QuotaReservation" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "amount" DOUBLE PRECISION NOT NULL,
    "state" "ReservationState" NOT NULL DEFAULT 'RESERVED',
    "window" TEXT NOT NULL DEFAULT '',
    "subject" TEXT,
    "idempotencyKey" TEXT,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "settledAt" TIMESTAMP(3),

    CONSTRAINT "QuotaReservation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Allocation" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "nodeId" TEXT NOT NULL,
    "hostname" TEXT NOT NULL,
    "gpuUuid" TEXT NOT NULL,
    "gpuIndex" INTEGER NOT NULL,
    "profile" TEXT NOT NULL,
    "placementStart" INTEGER NOT NULL,
    "placementSize" INTEGER NOT NULL,
    "gpuInstanceId" INTEGER,
    "memoryMiB" INTEGER NOT NULL,
    "state" "AllocationState" NOT NULL DEFAULT 'ACTIVE',
    "requestedBy" TEXT NOT NULL,
    "reservationId" UUID,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "leaseExpiresAt" TIMESTAMP(3) NOT NULL,
    "endedAt" TIMESTAMP(3),

    CONSTRAINT "Allocation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AllocationSlot" (
    "gpuUuid" TEXT NOT NULL,
    "slot" INTEGER NOT NULL,
    "allocationId" UUID NOT NULL,

    CONSTRAINT "AllocationSlot_pkey" PRIMARY KEY ("gpuUuid","slot")
);

-- CreateTable
CREATE TABLE "UsageHour" (
    "organizationId" UUID NOT NULL,
    "metric" TEXT NOT NULL,
    "hour" TIMESTAMP(3) NOT NULL,
    "amount" DOUBLE PRECISION NOT NULL DEFAULT 0,

    CONSTRAINT "UsageHour_pkey" PRIMARY KEY ("organizationId","metric","hour")
);

-- CreateTable
CREATE TABLE "UsageEvent" (
    "eventId" TEXT NOT NULL,
    "organizationId" UUID NOT NULL,
    "metric" TEXT NOT NULL,
    "amount" DOUBLE PRECISION NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "recordedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "UsageEvent_pkey" PRIMARY KEY ("eventId")
);

-- CreateIndex
CREATE INDEX "QuotaReservation_organizationId_kind_state_idx" ON "QuotaReservation"("organizationId", "kind", "state");

-- CreateIndex
CREATE INDEX "QuotaReservation_state_expiresAt_idx" ON "QuotaReservation"("state", "expiresAt");

-- CreateIndex
CREATE UNIQUE INDEX "QuotaReservation_organizationId_idempotencyKey_key" ON "QuotaReservation"("organizationId", "idempotencyKey");

-- CreateIndex
CREATE INDEX "Allocation_organizationId_state_createdAt_idx" ON "Allocation"("organizationId", "state", "createdAt");

-- CreateIndex
CREATE INDEX "Allocation_state_leaseExpiresAt_idx" ON "Allocation"("state", "leaseExpiresAt");

-- CreateIndex
CREATE INDEX "AllocationSlot_allocationId_idx" ON "AllocationSlot"("allocationId");

-- CreateIndex
CREATE INDEX "UsageEvent_recordedAt_idx" ON "UsageEvent"("recordedAt");

-- AddForeignKey
ALTER TABLE "AllocationSlot" ADD CONSTRAINT "AllocationSlot_allocationId_fkey" FOREIGN KEY ("allocationId") REFERENCES "Allocation"("id") ON DELETE CASCADE ON UPDATE CASCADE;
