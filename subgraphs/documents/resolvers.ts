import type { Principal } from '../../platform/auth/principal.ts';
import { unauthenticated } from '../../platform/errors.ts';
import { decodeTimeCursor, timeConnection } from '../../platform/graphql/cursor.ts';
import { DateTimeScalar, JSONScalar } from '../../platform/graphql/scalars.ts';
import type { Resolvers } from '../../generated/graphql/documents/resolvers-types.ts';
import type { DocumentsContext } from './context.ts';
import { hardwareSubject, modelSubject } from './domain/attestation-source.ts';

/** Every read and write is scoped to the token's organization here, not only at the gateway. */
function caller(context: DocumentsContext): Principal {
  if (!context.principal) throw unauthenticated('Sign in to see documents');
  return context.principal;
}

const maxPage = 100;

export const documentsResolvers: Resolvers = {
  DateTime: DateTimeScalar,
  JSON: JSONScalar,
  Query: {
    document: (_root, { id, includeDeleted }, context) =>
      context.deps.documents.find(caller(context), id, { includeDeleted: includeDeleted ?? false }),
    documents: async (_root, { first, after, filter }, context) => {
      const take = Math.min(Math.max(first ?? 20, 1), maxPage);
      const rows = await context.deps.documents.list(caller(context), filter ?? {}, {
        take,
        after: decodeTimeCursor(after),
      });
      return timeConnection(rows, take, (row) => row.createdAt);
    },
    reportJob: (_root, { id }, context) => context.deps.reports.findJob(caller(context), id),
  },
  Mutation: {
    createDocument: (_root, { input }, context) =>
      context.deps.documents.create(caller(context), input),
    updateDocument: (_root, { input: { id, expectedVersion, ...changes } }, context) =>
      context.deps.documents.update(caller(context), id, expectedVersion, changes),
    requestDocumentUpload: (_root, { input }, context) =>
      context.deps.uploads.request(caller(context), input),
    completeDocumentUpload: (_root, { input }, context) =>
      context.deps.uploads.complete(caller(context), input),
    shareDocument: (_root, { input }, context) =>
      context.deps.documents.share(caller(context), input, (userId) =>
        context.deps.isMember(context.authorization ?? '', userId),
      ),
    revokeDocumentGrant: (_root, { id }, context) =>
      context.deps.documents.revoke(caller(context), id),
    deleteDocument: (_root, { id }, context) => context.deps.documents.remove(caller(context), id),
    restoreDocument: (_root, { id }, context) =>
      context.deps.documents.restore(caller(context), id),
    setDocumentLegalHold: (_root, { input }, context) =>
      context.deps.documents.setLegalHold(caller(context), input),
    regenerateAttestationReport: (_root, { attestationId }, context) =>
      context.deps.reports.regenerate(caller(context), context.authorization ?? '', attestationId),
  },
  Document: {
    __resolveReference: (reference, context) =>
      context.principal && reference.id
        ? context.deps.documents.find(context.principal, reference.id)
        : null,
    metadata: (document) => document.metadata,
    files: (document, _args, context) => context.deps.documents.currentFiles(document),
    versions: (document, _args, context) => context.deps.documents.versions(document.id),
    // Who a document is shared with is for those who may change the sharing.
    grants: (document) => (document.access === 'WRITE' ? document.grants : []),
    restorableUntil: (document, _args, context) => context.deps.documents.restorableUntil(document),
  },
  DocumentVersion: {
    metadata: (version) => version.metadata,
  },
  DocumentFile: {
    sizeBytes: (file) => Number(file.sizeBytes),
    downloadUrl: (file, _args, context) => context.deps.documents.downloadUrl(file),
  },
  ReportJob: {
    document: (job, _args, context) =>
      job.documentId && context.principal
        ? context.deps.documents.find(context.principal, job.documentId)
        : null,
  },
  HardwareAttestation: {
    __resolveReference: (reference) => ({ id: reference.id }),
    report: (attestation, _args, context) =>
      context.deps.documents.findBySubject(caller(context), hardwareSubject(attestation.id)),
  },
  ModelAttestation: {
    __resolveReference: (reference) => ({ id: reference.id }),
    report: (attestation, _args, context) =>
      context.deps.documents.findBySubject(caller(context), modelSubject(attestation.id)),
  },
};
