import {
  BrokenCircuitError,
  BulkheadRejectedError,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  bulkhead,
  circuitBreaker,
  handleWhen,
} from 'cockatiel';
import { DiditRateLimitedError, DiditUnavailableError } from './errors.ts';
import { createLocalBuckets, type Bucket, type RateBuckets } from './rate-buckets.ts';

export type BreakerState = 'closed' | 'open' | 'half-open';

/** What a retry waits for: its backoff delay, and then its turn under Didit's pace. */
export interface RetryWait {
  delayMs: number;
  /** Didit answered 429 and asked for that delay: nobody calls the endpoint before it is over. */
  rateLimited: boolean;
  /**
   * Whether the failed try reached Didit. One that did counts in Didit's limit, so the retry takes
   * a turn of its own; one that made no connection did not, and the retry goes in its stead.
   */
  sent: boolean;
}


export interface ResilienceOptions {
  /** Didit's limit for each paced endpoint, in calls per minute (decision reads ~100, PDFs ~50). */
  limitsPerMinute: Partial<Record<string, number>>;
  /** Endpoints paced under another's limit (the reviews feed under Didit's generic GET limit, `get`). */
  pacedAs?: Partial<Record<string, string>>;
  /** Where the pace is counted: this process alone by default, a whole fleet through Redis. */
  paceBuckets?: RateBuckets;
  /**
   * Buckets a retry counts in besides the pace (given the pace's name): the scheduler's own count
   * of calls (core/turns.ts), which gave the first try its turn and must know of the retry too.
   */
  retriesAlsoIn?: (paced: string) => Bucket[];
  /** Longest a call waits for its turn before the caller is told RATE_LIMITED. Default 2,000 ms. */
  maxWaitMs?: number;
  /** Upstream calls in flight at once. */
  maxConcurrent: number;
  /** Consecutive failures (timeouts, 5xx after retries) that open the breaker. Default 5. */
  breakerThreshold?: number;
  /**
   * How long the breaker first stays open before one probe call. Default 1,000 ms; each failed
   * probe doubles it, up to 30 s, so a short outage costs seconds and a long one costs Didit nothing.
   */
  halfOpenAfterMs?: number;
  onBreakerChange?: (state: BreakerState) => void;
}

export interface Resilience {
  /** Runs one upstream call under the breaker, the endpoint's pace and the concurrency cap. */
  run<T>(endpoint: string, call: () => Promise<T>): Promise<T>;
  /** A retry's wait and turn under the endpoint's pace (the transport's `beforeRetry`). */
  retryTurn(endpoint: string, wait: RetryWait): Promise<boolean>;
  breakerState(): BreakerState;
}

/**
 * What stands between the gateway and Didit when Didit is slow, limited or down:
 * - a circuit breaker (cockatiel) that opens after consecutive timeouts or 5xx, never on 4xx, and
 *   then fails calls at once without touching Didit until a half-open probe succeeds;
 * - a pace per endpoint under Didit's published limits (no 60-second window holds more than the
 *   limit), queueing briefly and answering RATE_LIMITED with `retryAfter` when the wait would be
 *   too long; a 429 holds the endpoint off;
 * - a cap on concurrent calls (cockatiel bulkhead), so a burst cannot exhaust sockets or memory.
 */
export function createResilience(options: ResilienceOptions): Resilience {
  const maxWait = options.maxWaitMs ?? 2000;
  const buckets = options.paceBuckets ?? createLocalBuckets();
  const paces = new Map<string, Bucket>(
    Object.entries(options.limitsPerMinute).flatMap(([endpoint, limit]) => (limit ? [[endpoint, { key: `didit:${endpoint}`, limit, shape: 'strict' }]] : [])),
  );
  const breaker = circuitBreaker(
    // Only Didit's own failures count. A call our caller cancelled (DiditAbortedError) is not
    // handled, so a closed breaker neither counts it nor resets its count.
    handleWhen((error) => error instanceof DiditUnavailableError),
    {
      halfOpenAfter: new ExponentialBackoff({ initialDelay: options.halfOpenAfterMs ?? 1000, maxDelay: 30_000 }),
      breaker: new ConsecutiveBreaker(options.breakerThreshold ?? 5),
    },
  );
  const cap = bulkhead(options.maxConcurrent, options.maxConcurrent * 16);
  const stateName = (state: CircuitState): BreakerState =>
    state === CircuitState.Closed ? 'closed' : state === CircuitState.HalfOpen ? 'half-open' : 'open';
  breaker.onStateChange((state) => options.onBreakerChange?.(stateName(state)));

  const paceOf = (endpoint: string) => paces.get(options.pacedAs?.[endpoint] ?? endpoint);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  return {
    async retryTurn(endpoint, { delayMs, rateLimited, sent }) {
      const pace = paceOf(endpoint);
      // Didit's 429: nobody calls that endpoint before it said to, this retry included.
      if (pace && rateLimited) await buckets.holdOff(pace, delayMs);
      await sleep(delayMs);
      if (!pace || !sent) return true;
      const turn = await buckets.take([pace, ...(options.retriesAlsoIn?.(options.pacedAs?.[endpoint] ?? endpoint) ?? [])], maxWait);
      if (!turn.ok) return false;
      if (turn.waitMs > 0) await sleep(turn.waitMs);
      return true;
    },
    async run(endpoint, call) {
      try {
        return await breaker.execute(async () => {
          const pace = paceOf(endpoint);
          if (pace) {
            const turn = await buckets.take([pace], maxWait);
            if (!turn.ok) throw new DiditRateLimitedError(Math.max(1, Math.ceil(turn.retryAfterMs / 1000)));
            if (turn.waitMs > 0) await sleep(turn.waitMs);
          }
          return cap.execute(() =>
            call().catch(async (error: unknown) => {
              // Didit said 429: nobody calls that endpoint again before it said to.
              if (error instanceof DiditRateLimitedError && pace) await buckets.holdOff(pace, error.retryAfter * 1000);
              throw error;
            }),
          );
        });
      } catch (error) {
        if (error instanceof BrokenCircuitError) throw new DiditUnavailableError('circuit open');
        // Too many calls queued already: the caller should come back shortly.
        if (error instanceof BulkheadRejectedError) throw new DiditRateLimitedError(1);
        throw error;
      }
    },
    breakerState: () => stateName(breaker.state),
  };
}
