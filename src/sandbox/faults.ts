/**
 * Fault injection for the sandbox's Didit API endpoints, so the gateway's retries, timeouts,
 * token refresh and error mapping can be exercised offline.
 *
 * Two modes: `inject` queues faults for the next matching requests (deterministic, for tests);
 * `setRates` makes faults happen at random rates from a seeded PRNG (reproducible soak runs).
 * A queued fault wins over the rates. Only the API endpoints are ever faulted (v1 and v3 share
 * 'create', 'decision', 'pdf' and 'update'; 'list', 'delete', 'reviews' and 'workflows' are v3's): the sandbox's
 * own control endpoints and the applicant's page must keep working, or a soak run with
 * `errorRate: 1` could never be switched off again.
 */
import { randomInt } from 'node:crypto';

export const API_ENDPOINTS = ['token', 'create', 'decision', 'pdf', 'update', 'list', 'delete', 'reviews', 'workflows'] as const;
export type ApiEndpoint = (typeof API_ENDPOINTS)[number];

export const FAULT_KINDS = ['latency', 'status', 'rate-limit', 'drop', 'malformed', 'expire-token'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  kind: FaultKind;
  /** Only requests to this endpoint; omitted: any API endpoint (any `/v1/` one for 'expire-token'). */
  endpoint?: ApiEndpoint;
  /** How many matching requests it applies to. Default 1. */
  times?: number;
  /** For 'latency': delay before the request is handled normally. Default 1000. */
  latencyMs?: number;
  /** For 'status': the HTTP status answered. Default 503. */
  status?: number;
  /** For 'rate-limit': the `Retry-After` seconds. Default 1. */
  retryAfter?: number;
}

export interface FaultRates {
  /** Delay added to a request picked by `latencyRate`. Default 1000. */
  latencyMs?: number;
  latencyRate?: number;
  /** Share of requests answered 503. */
  errorRate?: number;
  /** Share of requests answered 429. */
  rateLimitRate?: number;
  /** `Retry-After` seconds of those 429s. Default 1. */
  retryAfter?: number;
  /** Share of requests whose socket is destroyed without an answer. */
  dropRate?: number;
  /** Share of requests answered 200 with a body that is not JSON. */
  malformedRate?: number;
}

/** What the server does to one request; latency is added before any action or normal handling. */
export interface FaultPlan {
  latencyMs: number;
  action?:
    | { kind: 'status'; status: number }
    | { kind: 'rate-limit'; retryAfter: number }
    | { kind: 'drop' }
    | { kind: 'malformed' }
    | { kind: 'expire-token' };
}

/** A fault or rates description that cannot be used; the message names the field. */
export class FaultError extends Error {
  override name = 'FaultError';
}

const DEFAULT_LATENCY_MS = 1000;
const MAX_LATENCY_MS = 120_000;
const DEFAULT_RETRY_AFTER = 1;

interface QueuedFault {
  fault: Fault;
  remaining: number;
}

export class FaultInjector {
  private queue: QueuedFault[] = [];
  private rates: FaultRates = {};
  private readonly random: () => number;

  constructor(seed: number = randomInt(2 ** 32)) {
    this.random = mulberry32(seed);
  }

  inject(fault: unknown): void {
    const checked = parseFault(fault);
    this.queue.push({ fault: checked, remaining: checked.times ?? 1 });
  }

  setRates(rates: unknown): void {
    this.rates = parseRates(rates);
  }

  clear(): void {
    this.queue = [];
    this.rates = {};
  }

  /** Decides what happens to one request to `endpoint`, consuming a queued fault if one matches. */
  plan(endpoint: ApiEndpoint): FaultPlan {
    const queued = this.queue.find(({ fault }) => matches(fault, endpoint));
    if (queued) {
      queued.remaining -= 1;
      if (queued.remaining === 0) this.queue.splice(this.queue.indexOf(queued), 1);
      return planFor(queued.fault);
    }
    return this.randomPlan();
  }

  private randomPlan(): FaultPlan {
    const r = this.rates;
    const latencyMs = this.random() < (r.latencyRate ?? 0) ? (r.latencyMs ?? DEFAULT_LATENCY_MS) : 0;
    // One roll shared by the exclusive faults: their rates add up to at most 1 (checked).
    let roll = this.random();
    const candidates: [number | undefined, FaultPlan['action']][] = [
      [r.dropRate, { kind: 'drop' }],
      [r.rateLimitRate, { kind: 'rate-limit', retryAfter: r.retryAfter ?? DEFAULT_RETRY_AFTER }],
      [r.errorRate, { kind: 'status', status: 503 }],
      [r.malformedRate, { kind: 'malformed' }],
    ];
    for (const [rate = 0, action] of candidates) {
      if (roll < rate) return { latencyMs, action };
      roll -= rate;
    }
    return { latencyMs };
  }
}

function matches(fault: Fault, endpoint: ApiEndpoint): boolean {
  if (fault.endpoint) return fault.endpoint === endpoint;
  // Expiring tokens while serving a token request would only invalidate the token being issued
  // next to them, so an unaimed 'expire-token' waits for a request that uses a token.
  return fault.kind !== 'expire-token' || endpoint !== 'token';
}

function planFor(fault: Fault): FaultPlan {
  switch (fault.kind) {
    case 'latency':
      return { latencyMs: fault.latencyMs ?? DEFAULT_LATENCY_MS };
    case 'status':
      return { latencyMs: 0, action: { kind: 'status', status: fault.status ?? 503 } };
    case 'rate-limit':
      return { latencyMs: 0, action: { kind: 'rate-limit', retryAfter: fault.retryAfter ?? DEFAULT_RETRY_AFTER } };
    default:
      return { latencyMs: 0, action: { kind: fault.kind } };
  }
}

/** Checks a fault from code or from a JSON body. */
export function parseFault(value: unknown): Fault {
  const input = objectOf(value, 'fault');
  allowOnly(input, ['kind', 'endpoint', 'times', 'latencyMs', 'status', 'retryAfter'], 'fault');
  if (!(FAULT_KINDS as readonly unknown[]).includes(input.kind)) {
    throw new FaultError(`fault.kind must be one of ${FAULT_KINDS.join(', ')}`);
  }
  if (input.endpoint !== undefined && !(API_ENDPOINTS as readonly unknown[]).includes(input.endpoint)) {
    throw new FaultError(`fault.endpoint must be one of ${API_ENDPOINTS.join(', ')}`);
  }
  return {
    kind: input.kind as FaultKind,
    endpoint: input.endpoint as ApiEndpoint | undefined,
    times: integer(input.times, 'fault.times', 1, 1_000_000),
    latencyMs: integer(input.latencyMs, 'fault.latencyMs', 0, MAX_LATENCY_MS),
    status: integer(input.status, 'fault.status', 400, 599),
    retryAfter: integer(input.retryAfter, 'fault.retryAfter', 0, 3600),
  };
}

/** Checks rates from code or from a JSON body. */
export function parseRates(value: unknown): FaultRates {
  const input = objectOf(value, 'rates');
  const rateNames = ['latencyRate', 'errorRate', 'rateLimitRate', 'dropRate', 'malformedRate'] as const;
  allowOnly(input, [...rateNames, 'latencyMs', 'retryAfter'], 'rates');
  const rates: FaultRates = {
    latencyMs: integer(input.latencyMs, 'rates.latencyMs', 0, MAX_LATENCY_MS),
    retryAfter: integer(input.retryAfter, 'rates.retryAfter', 0, 3600),
  };
  for (const name of rateNames) {
    const rate = input[name];
    if (rate === undefined) continue;
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) throw new FaultError(`rates.${name} must be a number from 0 to 1`);
    rates[name] = rate;
  }
  const exclusive = (rates.errorRate ?? 0) + (rates.rateLimitRate ?? 0) + (rates.dropRate ?? 0) + (rates.malformedRate ?? 0);
  if (exclusive > 1) throw new FaultError('rates.errorRate, rateLimitRate, dropRate and malformedRate must add up to at most 1');
  return rates;
}

function objectOf(value: unknown, name: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new FaultError(`${name} must be an object`);
  return value as Record<string, unknown>;
}

function allowOnly(input: Record<string, unknown>, keys: readonly string[], name: string): void {
  const unknown = Object.keys(input).find((key) => !keys.includes(key));
  if (unknown !== undefined) throw new FaultError(`${name} has an unknown field: ${unknown.slice(0, 50)}`);
}

function integer(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw new FaultError(`${name} must be an integer from ${min} to ${max}`);
  }
  return value as number;
}

/** A small, fast, seedable PRNG (Mulberry32): the same seed gives the same fault sequence. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
