/**
 * The Didit sandbox: an offline, stateful stand-in for Didit's v1 REST API, answering with the
 * seed's paths, methods, status codes and fields, so code written against the seed works against
 * it unchanged; and for Didit's v3 API (`x-api-key`, workflows) over the same sessions. Auth and
 * verification paths share one origin.
 *
 * Beyond the API it serves the applicant's page at each session's `url`, control endpoints to
 * finish, expire, abandon or Kyc-expire sessions (`POST /sandbox/sessions/{id}/...`), and fault
 * injection (`/sandbox/faults`) so the gateway's error handling can be exercised.
 *
 * This file assembles the parts: the shared context (`context.ts`), the route table from each
 * API module (`api-v1.ts`, `api-v3.ts`) and the control endpoints (`control.ts`), and the router
 * around them (`router.ts`).
 */
import { writeFileSync } from 'node:fs';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isSessionId } from '../didit/session-id.ts';
import type { Decision, FinalStatus, Kyc } from './wire.ts';
import { v1Routes } from './api-v1.ts';
import { v3Routes } from './api-v3.ts';
import { createContext, type SandboxOptions } from './context.ts';
import { controlRoutes } from './control.ts';
import type { Fault, FaultRates } from './faults.ts';
import { createRouter, type RecordedRequest } from './router.ts';

export type { SandboxOptions } from './context.ts';
export type { ApiEndpoint, Fault, FaultKind, FaultRates } from './faults.ts';
export type { Endpoint, RecordedRequest } from './router.ts';
export type { SandboxLogger } from './webhooks.ts';
export { FULL_WORKFLOW_ID, KYC_AML_WORKFLOW_ID, KYC_BASIC_WORKFLOW_ID } from './workflows.ts';

export interface CompleteOverrides {
  /** KYC fields replacing the generated persona's, e.g. recognisable personal data. */
  kyc?: Partial<Kyc>;
}

export interface Sandbox {
  /** Starts listening; `url` is the origin, e.g. 'http://127.0.0.1:40123'. */
  listen(port?: number, host?: string): Promise<{ url: string }>;
  /** Closes every socket (keep-alive ones too) and cancels pending latency and webhook retries. */
  close(): Promise<void>;
  setWebhook(url: string | undefined, secret: string | undefined): void;
  /**
   * Resolves once every webhook queued so far has been delivered or given up on, so a test can
   * wait for the receiver's side effects of `complete` instead of sleeping.
   */
  webhooksSettled(): Promise<void>;
  /**
   * For a shutdown: from now on every request is answered 503 (so nothing new is promised), and
   * the returned promise resolves once the webhooks already owed are delivered or given up on.
   */
  drain(): Promise<void>;
  /** Finishes a session as the applicant would; throws if it is unknown or already finished. */
  complete(sessionId: string, status: FinalStatus, overrides?: CompleteOverrides): Decision;
  /** Throws a `FaultError` for a fault it cannot apply. */
  injectFault(fault: Fault): void;
  /** Replaces the rates; throws a `FaultError` for rates it cannot apply. */
  setFaultRates(rates: FaultRates): void;
  clearFaults(): void;
  /** Every request received, for tests to count; a long run keeps at least the latest 100,000. */
  readonly requests: readonly RecordedRequest[];
  resetRequests(): void;
  /** The node request handler, to mount the sandbox in another server. */
  readonly handler: RequestListener;
}

export function createSandbox(options: SandboxOptions = {}): Sandbox {
  const context = createContext(options);
  const { store, faults, webhooks } = context;
  const { handler, requests } = createRouter([...v1Routes(context), ...v3Routes(context), ...controlRoutes(context)], context);
  const server = createServer();
  server.on('request', handler);

  return {
    listen(port = 0, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const { port: actual } = server.address() as AddressInfo;
          context.listenUrl = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
          resolve({ url: context.listenUrl });
        });
      });
    },
    close() {
      context.closed = true;
      webhooks.close();
      context.delays.cancelAll();
      if (context.stateFile) writeFileSync(context.stateFile, JSON.stringify(store.snapshot()));
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    setWebhook(url, secret) {
      webhooks.setTarget(url, secret);
    },
    webhooksSettled() {
      return webhooks.settled();
    },
    drain() {
      context.draining = true;
      return webhooks.settled();
    },
    complete(sessionId, status, overrides) {
      const session = isSessionId(sessionId) ? store.get(sessionId) : undefined;
      if (!session) throw new Error(`No session ${String(sessionId).slice(0, 60)}.`);
      store.finish(session, status, overrides?.kyc);
      return store.decision(session);
    },
    injectFault(fault) {
      faults.inject(fault);
    },
    setFaultRates(rates) {
      faults.setRates(rates);
    },
    clearFaults() {
      faults.clear();
    },
    requests,
    resetRequests() {
      requests.length = 0;
    },
    handler,
  };
}
