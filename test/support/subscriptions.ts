import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

export interface SubscriptionResult {
  data?: Record<string, any> | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

/** A live subscription as a frontend holds it: results arrive in `results`, `close` leaves. */
export interface LiveSubscription {
  results: SubscriptionResult[];
  /** Resolves once `count` results have arrived. */
  next(count: number): Promise<SubscriptionResult[]>;
  /** True once the server ended the stream. */
  ended: () => boolean;
  /** WebSocket: the code the server closed the socket with, if it did. */
  closeCode?: () => number | undefined;
  /** Resolves when the server has accepted the subscription (SSE: its response has started). */
  opened: Promise<void>;
  close(): Promise<void>;
}

function live(
  start: (push: (result: SubscriptionResult) => void, end: () => void, open: () => void) => () => Promise<void> | void,
): LiveSubscription {
  const results: SubscriptionResult[] = [];
  let open = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  let done = false;
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  const stop = start(
    (result) => {
      results.push(result);
      wake();
    },
    () => {
      done = true;
      open();
      wake();
    },
    () => open(),
  );
  return {
    results,
    opened,
    ended: () => done,
    next: (count) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (results.length >= count) resolve(results.slice(0, count));
          else if (done) reject(new Error(`stream ended after ${results.length} results: ${JSON.stringify(results)}`));
          else waiters.push(check);
        };
        check();
      }),
    close: async () => {
      await stop();
    },
  };
}

/** Subscribes over Server-Sent Events, as Yoga serves them by default. */
export function subscribeSse(gatewayUrl: string, token: string | undefined, query: string, variables: Record<string, unknown>): LiveSubscription {
  const abort = new AbortController();
  return live((push, end, open) => {
    void (async () => {
      try {
        const response = await fetch(`${gatewayUrl}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify({ query, variables }),
          signal: abort.signal,
        });
        open();
        let buffer = '';
        for await (const chunk of response.body!) {
          buffer += Buffer.from(chunk).toString();
          let boundary: number;
          while ((boundary = buffer.indexOf('\n\n')) >= 0) {
            const message = buffer.slice(0, boundary);
            buffer = buffer.slice(boundary + 2);
            const data = message.split('\n').find((line) => line.startsWith('data:'));
            if (message.includes('event: next') && data) push(JSON.parse(data.slice(5)));
          }
        }
      } catch {
        // aborted by close(), or the server went away
      }
      end();
    })();
    return () => abort.abort();
  });
}

/** Subscribes over WebSocket with graphql-ws, the token in the connection parameters. */
export function subscribeWs(
  gatewayUrl: string,
  token: string | undefined,
  query: string,
  variables: Record<string, unknown>,
  extensions?: Record<string, unknown>,
): LiveSubscription {
  const client = createClient({
    url: `${gatewayUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: true,
  });
  let closeCode: number | undefined;
  client.on('closed', (event) => (closeCode ??= (event as { code?: number }).code));
  const subscription = live((push, end, open) => {
    client.on('connected', () => open());
    const unsubscribe = client.subscribe(
      { query, variables, ...(extensions && { extensions }) },
      {
        next: (result) => push(result as SubscriptionResult),
        error: (error) => {
          push({ errors: Array.isArray(error) ? error : [{ message: String((error as Error)?.message ?? error) }] });
          end();
        },
        complete: end,
      },
    );
    return async () => {
      unsubscribe();
      await client.dispose();
    };
  });
  return { ...subscription, closeCode: () => closeCode };
}

export const STATUS_SUBSCRIPTION = `subscription($id: ID!) {
  sessionStatusChanged(sessionId: $id) { sessionId status occurredAt session { id status decision { status kyc { fullName } aml { totalHits } } } }
}`;
