/**
 * The arithmetic behind the soak's report: when Didit was unavailable to the gateways, the busiest
 * 60 s of Didit requests, and upstream reads per session while sessions did not change.
 */
import type { DiditRequest } from './didit.ts';

export interface Interval {
  from: number;
  to: number;
}

/** A request Didit answered itself: not a fault the sandbox injected, nor its 503 while restarting. */
export const answered = (request: DiditRequest) => request.status === 200 || request.status === 404;

/**
 * When each gateway's circuit breaker around Didit was open, from its pino log lines. Reads then
 * fail at once unless a copy of the session answers.
 */
export function breakerOpenIntervals(logs: readonly (readonly string[])[]): Interval[] {
  const intervals: Interval[] = [];
  for (const lines of logs) {
    let openedAt: number | undefined;
    for (const line of lines) {
      const breaker = /"time":(\d+).*"msg":"circuit breaker around Didit is (open|closed)"/.exec(line);
      if (breaker?.[2] === 'open') openedAt ??= Number(breaker[1]);
      if (breaker?.[2] === 'closed' && openedAt !== undefined) {
        intervals.push({ from: openedAt, to: Number(breaker[1]) });
        openedAt = undefined;
      }
    }
    if (openedAt !== undefined) intervals.push({ from: openedAt, to: Infinity });
  }
  return intervals;
}

export const overlaps = (a: Interval, intervals: readonly Interval[]) => intervals.some((b) => a.to >= b.from && a.from <= b.to);

/**
 * The most of `times` (ascending) inside any window of `windowMs`. When they span less than that,
 * the window is the span itself: say so rather than call it a minute.
 */
export function busiestWindow(times: readonly number[], windowMs: number): { count: number; windowMs: number } {
  if (times.length === 0) return { count: 0, windowMs: 0 };
  const span = times[times.length - 1]! - times[0]! + 1;
  let best = 0;
  for (let first = 0, last = 0; last < times.length; last++) {
    while (times[last]! - times[first]! >= windowMs) first++;
    best = Math.max(best, last - first + 1);
  }
  return { count: best, windowMs: Math.min(windowMs, span) };
}

export interface QuietReads {
  seconds: number;
  /** Finished sessions the callers re-read in the phase. */
  sessions: number;
  /** Of those, the ones Didit was asked about at all (the others were answered from a cache). */
  fetched: number;
  /** Decision requests Didit answered for them, and every attempt (faulted ones and retries too). */
  answered: number;
  attempts: number;
  /** For each answered read of a session after its first: ms since the one before was answered (negative: it was still under way). */
  repeatGapsMs: number[];
}

/** Didit's decision requests for `sessions` within `phase`. */
export function quietReads(requests: readonly DiditRequest[], sessions: ReadonlySet<string>, phase: Interval): QuietReads {
  const ours = requests.filter((r) => r.endpoint === 'decision' && r.at >= phase.from && r.at <= phase.to && sessions.has(r.sessionId ?? ''));
  const last = new Map<string, number>();
  const repeatGapsMs: number[] = [];
  for (const r of ours.filter(answered)) {
    const before = last.get(r.sessionId!);
    if (before !== undefined) repeatGapsMs.push(r.at - before);
    last.set(r.sessionId!, r.answeredAt ?? r.at);
  }
  return {
    repeatGapsMs,
    seconds: Math.round((phase.to - phase.from) / 1000),
    sessions: sessions.size,
    fetched: new Set(ours.map((r) => r.sessionId)).size,
    answered: ours.filter(answered).length,
    attempts: ours.length,
  };
}
