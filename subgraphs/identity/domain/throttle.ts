import { rateLimited } from '../../../platform/errors.ts';
import type { IdentityDeps } from './deps.ts';

/**
 * Login throttling: failures are counted per account (normalized email, whether it exists or
 * not, so lockouts reveal nothing) and per client IP in a fixed window. Over either limit the
 * caller gets RATE_LIMITED with the seconds until the window resets. A success clears the
 * account counter; the IP counter keeps counting so one IP cannot spray many accounts.
 */
export class LoginThrottle {
  constructor(private readonly deps: Pick<IdentityDeps, 'counters' | 'config'>) {}

  private accountKey(email: string) {
    return `login-fail:acct:${email}`;
  }
  private ipKey(ip: string) {
    return `login-fail:ip:${ip}`;
  }

  async assertAllowed(email: string, ip: string): Promise<void> {
    const { config, counters } = this.deps;
    const [account, address] = await Promise.all([
      counters.get(this.accountKey(email)),
      counters.get(this.ipKey(ip)),
    ]);
    if (account && account.count >= config.LOGIN_MAX_FAILURES_PER_ACCOUNT) {
      throw rateLimited(
        'Too many failed sign-in attempts for this account; try again later',
        account.resetInSeconds,
      );
    }
    if (address && address.count >= config.LOGIN_MAX_FAILURES_PER_IP) {
      throw rateLimited(
        'Too many failed sign-in attempts from this address; try again later',
        address.resetInSeconds,
      );
    }
  }

  async recordFailure(email: string, ip: string): Promise<void> {
    const window = this.deps.config.LOGIN_THROTTLE_WINDOW_SECONDS;
    await Promise.all([
      this.deps.counters.increment(this.accountKey(email), window),
      this.deps.counters.increment(this.ipKey(ip), window),
    ]);
  }

  async recordSuccess(email: string): Promise<void> {
    await this.deps.counters.reset(this.accountKey(email));
  }

  /** Sign-ups per IP per hour; keeps account creation (and email probing through it) bounded. */
  async chargeSignUp(ip: string): Promise<void> {
    const { count, resetInSeconds } = await this.deps.counters.increment(`signup:ip:${ip}`, 3600);
    if (count > this.deps.config.SIGNUPS_PER_IP_PER_HOUR) {
      throw rateLimited('Too many sign-ups from this address; try again later', resetInSeconds);
    }
  }
}
