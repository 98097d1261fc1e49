import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { subgraphModules } from '../../platform/services.ts';
import {
  apiSchemaPath,
  composeSchemas,
  composeSupergraph,
  readSubgraphs,
  supergraphPath,
} from '../../schema/compose.ts';

describe('the committed supergraph', () => {
  it('composes without errors and matches schema/supergraph.graphql (run `npm run compose` when this fails)', () => {
    expect(readFileSync(supergraphPath, 'utf8')).toBe(composeSupergraph());
  });

  it('matches schema/api.graphql, the federation-free schema clients and codegen read', () => {
    const { api } = composeSchemas();
    expect(readFileSync(apiSchemaPath, 'utf8')).toBe(api);
    expect(api).not.toMatch(/@join__|@link|_service|_entities/);
    expect(api).toContain('hardwareAttestationUpdated(');
  });

  it('names exactly the subgraphs the process can start', () => {
    expect(
      readSubgraphs()
        .map((s) => s.name)
        .sort(),
    ).toEqual(subgraphModules.map((m) => m.name).sort());
  });

  it('fails composition loudly when subgraphs conflict', () => {
    const [identity] = readSubgraphs();
    const clash = {
      name: 'clash',
      url: 'http://localhost:1/graphql',
      file: 'clash.graphql',
      sdl: 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])\ntype Organization @key(fields: "id") { id: ID! name: Int! }',
    };
    expect(() => composeSupergraph([identity!, clash])).toThrow(/Composition failed/);
  });
});
