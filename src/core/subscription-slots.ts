import type { Caller } from './access.ts';
import { RateLimited } from './errors.ts';

/**
 * Open subscriptions per caller, on this instance and over every transport: a caller holding many
 * would hold as many sockets, streams and event fan-outs (and their reads) as they like.
 */
export function createSubscriptionSlots(perCaller: number) {
  const open = new Map<string, number>();
  return {
    /** Takes a slot for `caller`, or throws RATE_LIMITED; the function returned gives it back (once). */
    take(caller: Caller): () => void {
      const key = `${caller.reviewer ? 'r' : 'a'}:${caller.sub}`;
      const held = open.get(key) ?? 0;
      if (held >= perCaller) {
        throw new RateLimited(`At most ${perCaller} open subscriptions per caller; close one first`, 1000, 'caller');
      }
      open.set(key, held + 1);
      let given = false;
      return () => {
        if (given) return;
        given = true;
        const left = (open.get(key) ?? 1) - 1;
        if (left > 0) open.set(key, left);
        else open.delete(key);
      };
    },
  };
}

export type SubscriptionSlots = ReturnType<typeof createSubscriptionSlots>;
