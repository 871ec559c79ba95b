/**
 * `face.status` is the worst of the liveness check and the face match, so that a client reading it
 * never accepts a spoof: a declined liveness with an approved match is Declined. Order, worst first:
 * Declined, a status Didit adds later (not understood, so not an approval), In Review, Not Finished,
 * Approved. Absent parts (null) are passed over; nothing known gives null.
 */
const RANK: Record<string, number> = { Declined: 4, 'In Review': 2, 'Not Finished': 1, Approved: 0 };
const UNKNOWN_RANK = 3;

const rank = (status: string) => (Object.hasOwn(RANK, status) ? RANK[status]! : UNKNOWN_RANK);

export function worstCheckStatus(...statuses: unknown[]): string | null {
  let worst: string | null = null;
  for (const status of statuses) {
    if (typeof status !== 'string') continue;
    if (worst === null || rank(status) > rank(worst)) worst = status;
  }
  return worst;
}
