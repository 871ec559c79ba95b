/**
 * The Didit sandbox as the soak runs it: in the soak's own process, mounted in a server that
 * records every Didit API request it receives (when, which endpoint, which session, what was
 * answered), so the report can count upstream reads per session and per 60 s window exactly as
 * Didit would see them, retries and faulted attempts included.
 *
 * A restart is what `npm run sandbox` does on SIGTERM (answer 503 while the webhooks already owed
 * are delivered, for 5 s at most, then save the sessions and close every socket), then some time
 * down (a process starting again), then a new sandbox from the saved sessions on the same port.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSandbox, type FaultRates, type Sandbox } from '../../src/sandbox/server.ts';

export type RecordedEndpoint = 'decision' | 'create' | 'update';

export interface DiditRequest {
  at: number;
  endpoint: RecordedEndpoint;
  /** Lower case; undefined for a create. */
  sessionId?: string;
  /** The HTTP status answered; 0 while unanswered, or when the connection was dropped. */
  status: number;
  /** When the answer was sent. */
  answeredAt?: number;
}

export interface SoakDidit {
  url: string;
  /** Every decision read, create and status update received, oldest first. */
  readonly requests: readonly DiditRequest[];
  /** Webhook deliveries and requests the sandbox could not handle, from its log. */
  readonly warnings: readonly string[];
  restart(downMs: number): Promise<void>;
  close(): Promise<void>;
}

/** 5 % 503s, 2 % dropped connections, 3 % 429s (Retry-After 1 s), 5 % of requests 400 ms late. */
export const FAULT_RATES: FaultRates = { errorRate: 0.05, dropRate: 0.02, rateLimitRate: 0.03, retryAfter: 1, latencyRate: 0.05, latencyMs: 400 };
const DRAIN_MS = 5000;
const API_PATH = /^\/v[13]\/session\/(?:([^/]+)\/(decision|update-status)\/)?$/;

export async function startSoakDidit(options: { port: number; webhookUrl: string; webhookSecret: string }): Promise<SoakDidit> {
  const url = `http://127.0.0.1:${options.port}`;
  const stateFile = join(mkdtempSync(join(tmpdir(), 'soak-')), 'sandbox.json');
  const requests: DiditRequest[] = [];
  const warnings: string[] = [];
  let sandbox: Sandbox;
  let server: Server;

  const record = (method: string, path: string): DiditRequest | undefined => {
    const match = API_PATH.exec(path);
    if (!match) return undefined;
    const endpoint = match[2] === 'decision' ? 'decision' : match[2] === 'update-status' ? 'update' : method === 'POST' ? 'create' : undefined;
    if (!endpoint) return undefined;
    const entry: DiditRequest = { at: Date.now(), endpoint, sessionId: match[1]?.toLowerCase(), status: 0 };
    requests.push(entry);
    return entry;
  };

  async function up(): Promise<void> {
    sandbox = createSandbox({
      webhookUrl: options.webhookUrl,
      webhookSecret: options.webhookSecret,
      // Like Didit, keep retrying a delivery for a while (here 10 s) while the gateway answers 503.
      webhookRetries: 20,
      webhookRetryDelayMs: 500,
      publicUrl: url,
      stateFile,
      logger: { info() {}, warn: (message) => warnings.push(message) },
    });
    sandbox.setFaultRates(FAULT_RATES);
    const handler = sandbox.handler;
    server = createServer((req, res) => {
      const entry = record(req.method ?? 'GET', (req.url ?? '/').split('?')[0]!);
      if (entry) {
        res.once('finish', () => {
          entry.status = res.statusCode;
          entry.answeredAt = Date.now();
        });
      }
      handler(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, '127.0.0.1', () => resolve());
    });
  }

  async function down(): Promise<void> {
    await Promise.race([sandbox.drain(), new Promise((resolve) => setTimeout(resolve, DRAIN_MS))]);
    // Saves the sessions and cancels pending latency and webhook retries; the sockets are ours.
    await sandbox.close();
    await new Promise((resolve) => {
      server.close(resolve);
      server.closeAllConnections();
    });
  }

  await up();
  return {
    url,
    requests,
    warnings,
    async restart(downMs) {
      await down();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await up();
    },
    close: down,
  };
}
