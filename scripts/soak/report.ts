/**
 * The soak's printed report: operations by outcome, then each figure with what it means and its
 * target, marked when it misses.
 */
import type { SoakOptions, SoakResult } from '../soak.ts';
import { FAULT_RATES } from './didit.ts';

const percent = (part: number, whole: number, digits = 1) => `${whole === 0 ? '0' : ((100 * part) / whole).toFixed(digits)} %`;
const miss = (ok: boolean) => (ok ? '' : '  << MISSED');

export function formatSoak(result: SoakResult, options: SoakOptions): string {
  const rows = [
    `Soak: Didit ${result.api}, 3 gateways on one Redis (shared decision level on), ${options.clients} applicants + reviewers, ` +
      `${options.attackers ?? 3} attack loops as ${options.attackerAccounts ?? 1} account(s), ${options.sessionsPerMinute ?? 8} new sessions/min, ${options.seconds} s` +
      `; faults ${JSON.stringify(FAULT_RATES)}; Redis restarted at 30 %, sandbox at 60 %, quiet (re-reads only) from 75 %`,
    '',
    'operation                                 outcome                          count',
  ];
  for (const [operation, outcomes] of Object.entries(result.operations)) {
    for (const [outcome, n] of Object.entries(outcomes)) rows.push(`${operation.padEnd(42)}${outcome.padEnd(30)}${String(n).padStart(7)}`);
  }

  const { normalReads: reads, writes, upstream, events } = result;
  const quiet = upstream.quiet;
  const perSession = quiet.answered / Math.max(1, quiet.sessions);
  const perFetched = quiet.answered / Math.max(1, quiet.fetched);
  const window = upstream.busiestWindow;
  const windowName = window.windowMs >= 60_000 ? '60 s window' : `${(window.windowMs / 1000).toFixed(0)} s window (the whole run: shorter than 60 s)`;
  const attack = (name: string) => Object.entries(result.operations[name] ?? {}).map(([outcome, n]) => `${n} ${outcome}`).join(', ') || 'none';
  const documentsPassed = result.operations['attack: 15 × sessions(ids: 100 random)']?.ok ?? 0;
  rows.push(
    '',
    `normal reads: ${reads.ok} of ${reads.total} ok, ${(100 * reads.successRate).toFixed(3)} % leaving out the outage's reads of sessions never read before (target >= 99.9 %)` +
      miss(reads.successRate >= 0.999),
    `  their 99th-percentile duration (the wait for a turn under Didit's budget included): ${reads.p99Ms} ms`,
    `  idempotent read errors: ${reads.whileUp} while Didit was up (target 0)${miss(reads.whileUp === 0)}, ${reads.whileRedisAway} of them while Redis was away; during an outage (sandbox restarting, a breaker open): ` +
      `${reads.outageSeenBefore} for sessions read before (target 0)${miss(reads.outageSeenBefore === 0)}, ${reads.outageNeverSeen} for sessions never read before (nothing could answer)`,
    `attack documents (15 aliases x 100 random ids): ${attack('attack: 15 × sessions(ids: 100 random)')} (target: all refused)${miss(documentsPassed === 0)}`,
    `attack single random-id reads: ${attack('attack: session(id: random)')}`,
    ...(['createSession', 'updateSessionStatus'] as const).map(
      (name) =>
        `writes ${name}: ${writes[name].failed} of ${writes[name].total} failed (${percent(writes[name].failed, writes[name].total)}), ` +
        `${writes[name].failedWhileUp} of them while Didit was up (${percent(writes[name].failedWhileUp, writes[name].total)})`,
    ),
    `Didit decision requests received: ${upstream.decisionRequests} (answered by Didit ${upstream.decisionAnswered}: ${upstream.answeredForSessions} for real sessions, ` +
      `${upstream.answeredForUnknownIds} for ids nobody created; the rest were injected faults and retries)`,
    `  the attack's share of the decision reads Didit answered: ${percent(upstream.answeredForUnknownIds, upstream.decisionAnswered)}`,
    `  busiest ${windowName}: ${window.requests} received, ${window.answered} answered (target <= ${upstream.decisionLimitPerMinute})${miss(window.requests <= upstream.decisionLimitPerMinute)}`,
    `quiet ${quiet.seconds} s, ${quiet.sessions} finished sessions re-read on 3 instances: Didit answered ${quiet.answered} decision reads for them (${quiet.attempts} attempts), ` +
      `${quiet.fetched} sessions fetched at all`,
    `  upstream reads per session: ${perSession.toFixed(3)} per session re-read, ${perFetched.toFixed(3)} per session fetched (target <= 1.05)${miss(perFetched <= 1.05)}`,
    ...(quiet.repeatGapsMs.length > 0
      ? [`  read again: ${quiet.repeatGapsMs.length} times, ${quiet.repeatGapsMs.map((ms) => `${ms} ms`).join(', ')} after Didit answered the previous read of the same session (negative: it was still under way)`]
      : []),
    `status events: expected ${events.expected}, delivered ${events.delivered}, duplicated ${events.duplicated}, missing ${events.missing} (target: all, once)` +
      miss(events.missing === 0 && events.duplicated === 0),
    ...Object.entries(result.rss).map(([name, r]) => `gateway ${name} RSS: ${r.startMb.toFixed(1)} MB at start, ${r.endMb.toFixed(1)} MB at end`),
    ...(result.lone
      ? [
          `lone reviewer, ${result.lone.seconds.toFixed(0)} s of sustained demand: ${result.lone.served} Didit reads served (${result.lone.perMinute.toFixed(1)} a minute, ` +
            `${percent(result.lone.perMinute, result.lone.limitPerMinute)} of Didit's limit; target >= 95 %), ${result.lone.refused} refused` +
            miss(result.lone.perMinute >= 0.95 * result.lone.limitPerMinute),
        ]
      : []),
    `unhandled rejections: ${result.unhandledRejections} (target 0)${miss(result.unhandledRejections === 0)}`,
    `gateway warnings: ${Object.entries(result.gatewayProblems).map(([message, n]) => `${n} x ${message}`).join('; ') || 'none'}`,
  );
  return rows.join('\n');
}
