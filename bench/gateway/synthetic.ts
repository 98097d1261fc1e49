/**
 * Synthetic, in-memory federated subgraphs for `npm run bench:gateway`. They stand in for the
 * subgraphs LotaBots does not have yet so that one query needs a real multi-step plan:
 *
 *   identity  Query.organization                      (the real identity subgraph)
 *   fleet     Organization.nodes → Node.gpus          (entity fetch, 1 representation)
 *   attestations  Gpu.attestations                    (entity fetch, one per GPU)
 *   billing   Attestation.charge                      (entity fetch, one per attestation)
 *
 * They verify nothing (no token check, no graphql-shield) and answer from constant data, so the
 * gateway is what the benchmark measures; each counts the GraphQL requests it receives.
 */
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { gql } from 'graphql-tag';
import { createLogger } from '../../platform/logger.ts';
import { serveGraphQL } from './http.ts';

export const NODES_PER_ORGANIZATION = 4;
export const GPUS_PER_NODE = 4;
export const ATTESTATIONS_PER_GPU = 3;

const federation = `extend schema
  @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
`;

interface GpuRow {
  id: string;
  model: string;
  memoryGb: number;
}
interface NodeRow {
  id: string;
  hostname: string;
  gpus: GpuRow[];
}
interface AttestationRow {
  id: string;
  status: string;
  measuredAt: string;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

const nodes: NodeRow[] = range(NODES_PER_ORGANIZATION).map((n) => ({
  id: `node-${n}`,
  hostname: `gpu-host-${n}.bench.lotabots.dev`,
  gpus: range(GPUS_PER_NODE).map((g) => ({
    id: `gpu-${n}-${g}`,
    model: g % 2 === 0 ? 'NVIDIA H100 80GB HBM3' : 'NVIDIA H200 141GB HBM3e',
    memoryGb: g % 2 === 0 ? 80 : 141,
  })),
}));
const gpusById = new Map(nodes.flatMap((n) => n.gpus).map((g) => [g.id, g]));
const attestationsOf = (gpuId: string): AttestationRow[] =>
  range(ATTESTATIONS_PER_GPU).map((a) => ({
    id: `att-${gpuId}-${a}`,
    status: a === 0 ? 'PENDING' : 'VERIFIED',
    measuredAt: new Date(Date.UTC(2026, 0, 1 + a)).toISOString(),
  }));

export interface SyntheticSubgraph {
  name: string;
  sdl: string;
  resolvers: GraphQLResolverMap<unknown>;
}

export const syntheticSubgraphs: SyntheticSubgraph[] = [
  {
    name: 'fleet',
    sdl: `${federation}
type Organization @key(fields: "id") {
  id: ID!
  nodes: [Node!]!
}
type Node @key(fields: "id") {
  id: ID!
  hostname: String!
  gpus: [Gpu!]!
}
type Gpu @key(fields: "id") {
  id: ID!
  model: String!
  memoryGb: Int!
}
`,
    resolvers: {
      Organization: {
        __resolveReference: (ref: { id: string }) => ({ id: ref.id }),
        nodes: () => nodes,
      },
      Node: { __resolveReference: (ref: { id: string }) => nodes.find((n) => n.id === ref.id) },
      Gpu: { __resolveReference: (ref: { id: string }) => gpusById.get(ref.id) },
    },
  },
  {
    name: 'attestations',
    sdl: `${federation}
type Gpu @key(fields: "id") {
  id: ID!
  attestations: [Attestation!]!
}
type Attestation @key(fields: "id") {
  id: ID!
  status: String!
  measuredAt: String!
}
`,
    resolvers: {
      Gpu: {
        __resolveReference: (ref: { id: string }) => ({ id: ref.id }),
        attestations: (gpu: { id: string }) => attestationsOf(gpu.id),
      },
      Attestation: {
        __resolveReference: (ref: { id: string }) => {
          const gpuId = ref.id.replace(/^att-/, '').replace(/-\d+$/, '');
          return attestationsOf(gpuId).find((a) => a.id === ref.id);
        },
      },
    },
  },
  {
    name: 'billing',
    sdl: `${federation}
type Attestation @key(fields: "id") {
  id: ID!
  charge: Charge!
}
type Charge {
  amountCents: Int!
  currency: String!
}
`,
    resolvers: {
      Attestation: {
        __resolveReference: (ref: { id: string }) => ({ id: ref.id }),
        charge: (attestation: { id: string }) => ({
          amountCents: 100 + (attestation.id.length % 7) * 25,
          currency: 'USD',
        }),
      },
    },
  },
];

export interface RunningSynthetic {
  name: string;
  url: string;
  stop: () => Promise<void>;
}

/** Serves one synthetic subgraph on a loopback port; `onRequest` runs once per GraphQL request. */
export async function startSyntheticSubgraph(
  subgraph: SyntheticSubgraph,
  onRequest: () => void,
): Promise<RunningSynthetic> {
  const logger = createLogger({ LOG_LEVEL: 'silent' });
  const apollo = new ApolloServer({
    schema: buildSubgraphSchema([{ typeDefs: gql(subgraph.sdl), resolvers: subgraph.resolvers }]),
    logger,
    stopOnTerminationSignals: false,
    plugins: [ApolloServerPluginLandingPageDisabled()],
  });
  await apollo.start();
  const served = await serveGraphQL(apollo, () => ({}), onRequest);
  return { name: subgraph.name, url: served.url, stop: served.stop };
}
