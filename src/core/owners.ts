import { LRUCache } from 'lru-cache';

/**
 * Whose each session is (its `vendor_data`), once the gateway has read or created it. Didit never
 * changes a session's `vendor_data`, so this is kept however old: it lets an applicant attach to
 * their own session without a Didit read. Only the owner is kept, nothing else of the session.
 */
export interface Owners {
  remember(sessionId: string, vendorData: string | null | undefined): void;
  /** The session's owner, null for a session of nobody's, undefined when not known. */
  of(sessionId: string): string | null | undefined;
  forget(sessionId: string): void;
}

export function createOwners(max = 50_000): Owners {
  const owners = new LRUCache<string, { vendorData: string | null }>({ max });
  return {
    remember: (sessionId, vendorData) => void owners.set(sessionId.toLowerCase(), { vendorData: vendorData ?? null }),
    of: (sessionId) => owners.get(sessionId.toLowerCase())?.vendorData,
    forget: (sessionId) => void owners.delete(sessionId.toLowerCase()),
  };
}
