import type { Config } from '../../../platform/config.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { PrismaClient } from '../../../generated/prisma/documents/client.ts';
import type { DocumentService } from './documents.ts';
import type { ReportService } from './reports.ts';
import type { UploadService } from './uploads.ts';

/** What the documents subgraph's resolvers work with. */
export interface DocumentsDeps {
  prisma: PrismaClient;
  config: Config;
  logger: Logger;
  documents: DocumentService;
  uploads: UploadService;
  reports: ReportService;
  /** Whether a user is a member of the caller's organization (asked of identity as the caller). */
  isMember: (authorization: string, userId: string) => Promise<boolean>;
}

/** A hardware or model attestation the documents subgraph adds `report` to. */
export interface HardwareAttestationRef {
  id: string;
}
