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

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface ResilienceOptions {
  /** Didit's limit for each paced endpoint, in calls per minute (decision reads ~100, PDFs ~50). */
  limitsPerMinute: Partial<Record<string, number>>;
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
  breakerState(): BreakerState;
}

/**
 * Pacing with the generic cell rate algorithm: calls are spaced by `interval`, with a burst of a
 * quarter of the limit allowed. The steady rate is three quarters of the limit, so no 60-second
 * window ever holds more than the limit (burst + 60 s of steady rate = limit).
 */
class Pace {
  private readonly interval: number;
  private readonly burst: number;
  /** The theoretical arrival time of the next call (ms). */
  private next = 0;

  constructor(perMinute: number) {
    this.interval = 60_000 / (perMinute * 0.75);
    this.burst = Math.max(0, Math.floor(perMinute / 4) - 1) * this.interval;
  }

  /** Milliseconds to wait for a turn, which is taken; or undefined when it is further than `maxWait`. */
  take(maxWait: number): number | undefined {
    const now = Date.now();
    const start = Math.max(this.next, now);
    const wait = Math.max(0, start - this.burst - now);
    if (wait > maxWait) return undefined;
    this.next = start + this.interval;
    return wait;
  }

  /** Seconds until a call would be let through. */
  retryAfter(): number {
    return Math.max(1, Math.ceil((this.next - this.burst - Date.now()) / 1000));
  }

  holdOff(ms: number): void {
    this.next = Math.max(this.next, Date.now() + ms + this.burst);
  }
}

/**
 * What stands between the gateway and Didit when Didit is slow, limited or down:
 * - a circuit breaker (cockatiel) that opens after consecutive timeouts or 5xx, never on 4xx, and
 *   then fails calls at once without touching Didit until a half-open probe succeeds;
 * - a pace per endpoint under Didit's published limits, queueing briefly and answering
 *   RATE_LIMITED with `retryAfter` when the wait would be too long; a 429 holds the endpoint off;
 * - a cap on concurrent calls (cockatiel bulkhead), so a burst cannot exhaust sockets or memory.
 */
export function createResilience(options: ResilienceOptions): Resilience {
  const maxWait = options.maxWaitMs ?? 2000;
  const paces = new Map(Object.entries(options.limitsPerMinute).flatMap(([endpoint, limit]) => (limit ? [[endpoint, new Pace(limit)]] : [])));
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

  return {
    async run(endpoint, call) {
      try {
        return await breaker.execute(async () => {
          const pace = paces.get(endpoint);
          if (pace) {
            const wait = pace.take(maxWait);
            if (wait === undefined) throw new DiditRateLimitedError(pace.retryAfter());
            if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          }
          return cap.execute(() =>
            call().catch((error: unknown) => {
              // Didit said 429: nobody calls that endpoint again before it said to.
              if (error instanceof DiditRateLimitedError) pace?.holdOff(error.retryAfter * 1000);
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
