import { createHash } from 'node:crypto';
import { GraphQLError } from 'graphql';
import type { BudgetConfig } from '../config.ts';
import type { Bucket, RateBuckets } from '../didit/rate-buckets.ts';
import type { Caller } from './access.ts';

/** The Didit endpoints whose calls are shared out among callers. */
export type BudgetedEndpoint = 'decision' | 'pdf' | 'list';

/** Who pays for an upstream call: a caller, by a hash of its `sub` (no personal data in keys or links). */
export interface Payer {
  id: string;
  reviewer: boolean;
}

export function payerOf(caller: Caller): Payer {
  return { id: pseudonym(`sub:${caller.sub}`), reviewer: caller.reviewer };
}

/** A stable, short stand-in for a personal value (a `sub`, an address) in Redis keys and links. */
export function pseudonym(value: string): string {
  return createHash('sha256').update(`didit-gateway\0${value}`).digest('base64url').slice(0, 22);
}

/** Which limit refused a request: the caller's own (rate or share), or Didit's budget. */
export type LimitKind = 'caller' | 'didit';

export function rateLimited(message: string, retryAfterMs: number, limit: LimitKind): GraphQLError {
  const retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new GraphQLError(message, { extensions: { code: 'RATE_LIMITED', retryAfter, limit } });
}

export interface Budget {
  /**
   * Charges one upstream call to `payer`, right before it is made; throws RATE_LIMITED when the
   * payer's share is used up (`limit: "caller"`) or, for an applicant, when applicants together
   * have used all that is not reserved for reviewers (`limit: "didit"`).
   */
  charge(payer: Payer, endpoint: BudgetedEndpoint): Promise<void>;
}

/**
 * Didit's per-minute limits shared out among callers. Each caller may cause at most
 * `callerShare` of an endpoint's limit; applicants together at most (1 - `reviewerReserve`) of
 * it, so reviewers always find that much left. Both are 'strict' buckets, like Didit's own pace:
 * no 60-second window holds more than the share.
 */
export function createBudget(options: {
  buckets: RateBuckets;
  config: BudgetConfig;
  limitsPerMinute: Record<BudgetedEndpoint, number>;
}): Budget {
  const { buckets, config, limitsPerMinute } = options;
  const nouns: Record<BudgetedEndpoint, string> = { decision: 'decision reads', pdf: 'PDF reports', list: 'session searches' };

  return {
    async charge(payer, endpoint) {
      const limit = limitsPerMinute[endpoint];
      const share: Bucket = { key: `share:${endpoint}:${payer.id}`, limit: limit * config.callerShare, shape: 'strict' };
      const applicants: Bucket = { key: `applicants:${endpoint}`, limit: limit * (1 - config.reviewerReserve), shape: 'strict' };
      const turn = await buckets.take(payer.reviewer ? [share] : [share, applicants], 0);
      if (turn.ok) return;
      if (turn.refused === 0) {
        const most = Math.floor(share.limit);
        throw rateLimited(`This caller may cause at most ${most} Didit ${nouns[endpoint]} a minute; try again later`, turn.retryAfterMs, 'caller');
      }
      throw rateLimited(`Applicants have used their part of Didit's ${nouns[endpoint]} for now; try again later`, turn.retryAfterMs, 'didit');
    },
  };
}
