/** Thrown when another subgraph cannot answer; callers map it to their own error or retry. */
export class PeerUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PeerUnavailableError';
  }
}

/**
 * Asks another subgraph a GraphQL question on the caller's behalf (its own `authorization`, so the
 * peer scopes the answer to the caller's organization itself). Any transport failure, non-JSON
 * answer or GraphQL error is a PeerUnavailableError naming what the peer said.
 */
export async function queryPeer<TData>(
  url: string,
  authorization: string,
  query: string,
  variables: Record<string, unknown>,
  options: { peer: string; timeoutMs?: number },
): Promise<TData> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
    });
  } catch (error) {
    throw new PeerUnavailableError(`the ${options.peer} did not answer`, { cause: error });
  }
  const body = (await response.json().catch(() => null)) as {
    data?: TData | null;
    errors?: { message: string }[];
  } | null;
  if (!body?.data || (body.errors?.length ?? 0) > 0) {
    throw new PeerUnavailableError(
      `the ${options.peer} answered ${response.status}: ${body?.errors?.[0]?.message ?? 'no data'}`,
    );
  }
  return body.data;
}
