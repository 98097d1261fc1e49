import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed resolvers for every subgraph, generated into generated/graphql/ (gitignored, rebuilt by
 * `npm install`). One shared function builds each subgraph's entry so adding a subgraph is one
 * line. `federation: true` makes `__resolveReference` part of the types, so a missing or wrongly
 * typed reference resolver fails `tsc`.
 */
function subgraph(
  name: string,
  options: { context: string; mappers?: Record<string, string>; schema?: string },
): CodegenConfig['generates'] {
  return {
    [`generated/graphql/${name}/resolvers-types.ts`]: {
      schema: options.schema ?? `subgraphs/${name}/schema.graphql`,
      plugins: ['typescript', 'typescript-resolvers'],
      config: {
        federation: true,
        useIndexSignature: true,
        contextType: options.context,
        mappers: options.mappers ?? {},
        scalars: { DateTime: 'Date', JSON: 'unknown' },
        enumsAsTypes: true,
        useTypeImports: true,
        emitLegacyCommonJSImports: false,
        avoidOptionals: false,
        maybeValue: 'T | null',
        inputMaybeValue: 'T | null | undefined',
      },
    },
  };
}

const config: CodegenConfig = {
  overwrite: true,
  silent: true,
  generates: {
    // The dashboard's operations, typed against the composed API schema. `documentMode: 'string'`
    // keeps graphql-js out of the browser bundle: each document is its query text plus types.
    'generated/graphql/dashboard/operations.ts': {
      schema: 'schema/api.graphql',
      documents: 'gateway/dashboard/src/**/*.graphql',
      plugins: ['typescript-operations', 'typed-document-node'],
      config: {
        documentMode: 'string',
        onlyOperationTypes: true,
        enumsAsTypes: true,
        useTypeImports: true,
        scalars: { DateTime: 'string', JSON: 'unknown' },
        maybeValue: 'T | null',
        avoidOptionals: { field: true, inputValue: false, object: true },
      },
    },
    ...subgraph('identity', {
      context: '../../../subgraphs/identity/context.ts#IdentityContext',
      mappers: {
        User: '../../prisma/identity/client.ts#User as UserModel',
        Organization: '../../prisma/identity/client.ts#Organization as OrganizationModel',
        Membership: '../../../subgraphs/identity/domain/members.ts#MembershipWithInvite',
        ApiKey: '../../prisma/identity/client.ts#ApiKey as ApiKeyModel',
        AuthPayload: '../../../subgraphs/identity/domain/sessions.ts#AuthResult',
      },
    }),
    // The gpu-agent lives in its own top-level folder: it is a subgraph and a node collector.
    ...subgraph('gpu-agent', {
      schema: 'gpu-agent/subgraph/schema.graphql',
      context: '../../../gpu-agent/subgraph/context.ts#GpuAgentContext',
      mappers: {
        GpuNode: '../../../gpu-agent/fleet/fleet-state.ts#NodeRecord',
        Gpu: '../../../gpu-agent/subgraph/mappers.ts#GpuParent',
        MigInstance: '../../../gpu-agent/model.ts#MigInstanceState',
        MigOperation: '../../prisma/gpu-agent/client.ts#MigCommand',
        GpuTelemetry: '../../../gpu-agent/fleet/fleet-state.ts#NodeRecord',
      },
    }),
    ...subgraph('hardware-attestation', {
      context: '../../../subgraphs/hardware-attestation/context.ts#HardwareAttestationContext',
      mappers: {
        HardwareAttestation:
          '../../prisma/hardware-attestation/client.ts#Attestation as AttestationModel',
        ReferenceValue:
          '../../../subgraphs/hardware-attestation/domain/lifecycle.ts#ReferenceValueView',
        AppraisalPolicy: '../../../subgraphs/hardware-attestation/domain/lifecycle.ts#PolicyView',
        AuditEntry: '../../prisma/hardware-attestation/client.ts#AuditEntry as AuditEntryModel',
        Gpu: '../../../subgraphs/hardware-attestation/domain/lifecycle.ts#GpuReference',
      },
    }),
    ...subgraph('resources', {
      context: '../../../subgraphs/resources/context.ts#ResourcesContext',
      mappers: {
        Allocation: '../../prisma/resources/client.ts#Allocation as AllocationModel',
        Organization: '../../../subgraphs/resources/domain/deps.ts#OrganizationRef',
        GpuNode: '../../../subgraphs/resources/domain/deps.ts#GpuNodeRef',
        Gpu: '../../../subgraphs/resources/domain/deps.ts#GpuRef',
        QuotaLimit: '../../../subgraphs/resources/domain/quotas.ts#QuotaLimitView',
        UsagePoint: '../../../subgraphs/resources/domain/usage.ts#UsagePoint as UsagePointModel',
      },
    }),
    ...subgraph('model-attestation', {
      context: '../../../subgraphs/model-attestation/context.ts#ModelAttestationContext',
      mappers: {
        Model: '../../prisma/model-attestation/client.ts#Model as ModelModel',
        ModelVersion: '../../prisma/model-attestation/client.ts#ModelVersion as ModelVersionModel',
        ModelAttestation:
          '../../prisma/model-attestation/client.ts#ModelAttestation as ModelAttestationModel',
        ModelAuditEntry: '../../prisma/model-attestation/client.ts#AuditEntry as AuditEntryModel',
        AuditEntry: '../../prisma/model-attestation/client.ts#AuditEntry as AuditEntryModel',
        ModelSigningKey:
          '../../prisma/model-attestation/client.ts#ModelSigningKey as ModelSigningKeyModel',
        ModelFile: '../../../subgraphs/model-attestation/domain/deps.ts#ModelFileView',
        Finding:
          '../../../subgraphs/model-attestation/domain/scan/findings.ts#Finding as FindingModel',
      },
    }),
    ...subgraph('documents', {
      context: '../../../subgraphs/documents/context.ts#DocumentsContext',
      mappers: {
        Document: '../../../subgraphs/documents/domain/documents.ts#DocumentView',
        DocumentVersion:
          '../../../subgraphs/documents/domain/documents.ts#DocumentVersionWithFiles',
        DocumentFile: '../../prisma/documents/client.ts#DocumentFile as DocumentFileModel',
        DocumentGrant: '../../prisma/documents/client.ts#DocumentGrant as DocumentGrantModel',
        ReportJob: '../../prisma/documents/client.ts#ReportJob as ReportJobModel',
        HardwareAttestation: '../../../subgraphs/documents/domain/deps.ts#HardwareAttestationRef',
        ModelAttestation: '../../../subgraphs/documents/domain/deps.ts#HardwareAttestationRef',
      },
    }),
  },
};

export default config;
