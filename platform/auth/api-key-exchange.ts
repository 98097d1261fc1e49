import { createHash } from 'node:crypto';
import { unauthenticated } from '../errors.ts';
import type { EventBus } from '../events/index.ts';
import { apiKeyRevokedTopic } from '../events/topics.ts';
import type { Logger } from '../logger.ts';

const maxEntries = 10_000;
/** Refresh this long before the minted token expires, so a request never forwards a dying token. */
const refreshMarginMs = 30_000;

interface Entry {
  token: string;
  prefix: string;
  expiresAt: number;
}

/**
 * Turns `lb_…` API keys into short-lived access tokens through the identity service, caching the
 * result per key so a busy key costs one exchange per few minutes. A revocation event evicts the
 * key on every gateway replica at once.
 */
export class ApiKeyExchange {
  private readonly cache = new Map<string, Entry>();
  private readonly revokedListeners = new Set<(prefix: string) => void>();
  private unsubscribe: (() => Promise<void>) | null = null;

  constructor(
    private readonly exchangeUrl: string,
    private readonly events: EventBus,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.unsubscribe = await this.events.subscribe(apiKeyRevokedTopic, (payload) => {
      const prefix = (payload as { prefix?: unknown }).prefix;
      if (typeof prefix !== 'string') return;
      for (const [hash, entry] of this.cache) if (entry.prefix === prefix) this.cache.delete(hash);
      this.logger.info({ prefix }, 'revoked API key evicted from cache');
      for (const listener of this.revokedListeners) listener(prefix);
    });
  }

  /**
   * Calls `listener` with the prefix (`lb_<prefix>_…`) of every key revoked anywhere, so holders of
   * long-lived sessions (WebSocket connections) can end them at once. Returns the unsubscribe.
   */
  onRevoked(listener: (prefix: string) => void): () => void {
    this.revokedListeners.add(listener);
    return () => this.revokedListeners.delete(listener);
  }

  /** The prefix a revocation event names for `apiKey`. */
  static prefixOf(apiKey: string): string {
    return apiKey.split('_')[1] ?? '';
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.();
  }

  /** The access token a bearer credential stands for: an API key's minted token, else itself. */
  async accessTokenFor(credential: string): Promise<string> {
    return credential.startsWith('lb_') ? this.tokenFor(credential) : credential;
  }

  async tokenFor(apiKey: string): Promise<string> {
    const hash = createHash('sha256').update(apiKey).digest('base64url');
    const cached = this.cache.get(hash);
    if (cached && cached.expiresAt - refreshMarginMs > Date.now()) return cached.token;

    let response: Response;
    try {
      response = await fetch(this.exchangeUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}` },
        signal: AbortSignal.timeout(5_000),
      });
    } catch (error) {
      this.logger.error({ err: error }, 'API key exchange unreachable');
      throw unauthenticated('API key could not be checked right now; try again');
    }
    const body = (await response.json().catch(() => null)) as {
      accessToken?: string;
      expiresIn?: number;
      error?: { message?: string };
    } | null;
    if (!response.ok || !body?.accessToken || !body.expiresIn) {
      throw unauthenticated(body?.error?.message ?? 'API key is invalid');
    }
    if (this.cache.size >= maxEntries) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(hash, {
      token: body.accessToken,
      prefix: ApiKeyExchange.prefixOf(apiKey),
      expiresAt: Date.now() + body.expiresIn * 1000,
    });
    return body.accessToken;
  }
}
