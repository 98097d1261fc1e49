import { composeServices } from '@apollo/composition';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { printSchema } from 'graphql';
import { gql } from 'graphql-tag';
import { parse as parseYaml } from 'yaml';

export const supergraphConfigPath = resolve(import.meta.dirname, 'supergraph.yaml');
export const supergraphPath = resolve(import.meta.dirname, 'supergraph.graphql');
/**
 * The API schema clients see (no federation directives): what codegen types the dashboard's
 * operations against, and a readable reference for anyone writing a client.
 */
export const apiSchemaPath = resolve(import.meta.dirname, 'api.graphql');

interface SupergraphConfig {
  subgraphs: Record<string, { routing_url: string; schema: { file: string } }>;
}

export interface SubgraphSource {
  name: string;
  url: string;
  file: string;
  sdl: string;
}

/** The subgraphs named in schema/supergraph.yaml with their SDL read from disk. */
export function readSubgraphs(configPath = supergraphConfigPath): SubgraphSource[] {
  const config = parseYaml(readFileSync(configPath, 'utf8')) as SupergraphConfig;
  return Object.entries(config.subgraphs).map(([name, entry]) => {
    const file = resolve(dirname(configPath), entry.schema.file);
    return { name, url: entry.routing_url, file, sdl: readFileSync(file, 'utf8') };
  });
}

/** The composed supergraph SDL and the API schema derived from it. */
export interface ComposedSchemas {
  supergraph: string;
  api: string;
}

/** Composes the subgraphs; throws with every composition error listed. */
export function composeSchemas(subgraphs: SubgraphSource[] = readSubgraphs()): ComposedSchemas {
  const result = composeServices(
    subgraphs.map((s) => ({ name: s.name, url: s.url, typeDefs: gql(s.sdl) })),
  );
  if (result.errors) {
    throw new Error(
      `Composition failed:\n${result.errors.map((e) => `  - ${e.message}`).join('\n')}`,
    );
  }
  return {
    supergraph: `${result.supergraphSdl.trimEnd()}\n`,
    api: `${printSchema(result.schema.toAPISchema().toGraphQLJSSchema()).trimEnd()}\n`,
  };
}

/** The supergraph SDL alone (see composeSchemas). */
export function composeSupergraph(subgraphs: SubgraphSource[] = readSubgraphs()): string {
  return composeSchemas(subgraphs).supergraph;
}
