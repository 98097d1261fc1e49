/**
 * The baseline of `npm run bench:gateway`: a plain @apollo/gateway inside Apollo Server, with
 * none of LotaBots' layers (no token verification, access rules, operation limits, persisted
 * queries, rate limits, metrics, request-id logging). It forwards the caller's Authorization
 * header to the subgraphs, served by the minimal HTTP handling of ./http.ts (capped body read, JSON
 * parse, `executeHTTPGraphQLRequest`).
 */
import {
  ApolloGateway,
  RemoteGraphQLDataSource,
  type GraphQLDataSourceProcessOptions,
} from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { declareAuthFeaturesHandled } from '../../gateway/supergraph-file.ts';
import { createLogger } from '../../platform/logger.ts';
import { serveGraphQL } from './http.ts';

interface PlainContext {
  authorization: string | undefined;
}

class AuthorizationForwarding extends RemoteGraphQLDataSource<PlainContext> {
  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<PlainContext>) {
    const authorization = (context as Partial<PlainContext>).authorization;
    if (authorization) request.http?.headers.set('authorization', authorization);
  }
}

export async function startPlainGateway(
  supergraphSdl: string,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const logger = createLogger({ LOG_LEVEL: 'silent' });
  const gateway = new ApolloGateway({
    // The supergraph links `for: SECURITY` features that @apollo/gateway refuses to serve unless
    // told they are handled; the plain gateway simply does not enforce them.
    supergraphSdl: declareAuthFeaturesHandled(supergraphSdl),
    buildService: ({ url }) => new AuthorizationForwarding({ url }),
    logger,
  });
  const apollo = new ApolloServer<PlainContext>({
    gateway,
    logger,
    stopOnTerminationSignals: false,
  });
  await apollo.start();
  return serveGraphQL(apollo, (req) => ({ authorization: req.headers.authorization }));
}
