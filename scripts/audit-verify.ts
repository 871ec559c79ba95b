/**
 * `npm run audit:verify`: walks the audit trail's hash chain with the gateway's own settings
 * (DATABASE_URL or DATA_DIR, AUDIT_KEY) and names the first record changed, removed or inserted.
 * Exit code 0 when the chain is intact, 1 when it is not (or cannot be read).
 * With the embedded database (no DATABASE_URL) stop the gateway first: PGlite opens a folder in
 * one process at a time (a running gateway answers the `auditIntegrity` query instead).
 */
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { ConfigError } from '../src/config/env.ts';
import { openAuditStore } from '../src/audit/store.ts';

async function main(): Promise<number> {
  let store;
  try {
    const config = loadConfig(process.env);
    store = await openAuditStore({ config: config.audit, log: pino({ level: 'warn' }, pino.destination(2)), purgeEveryMs: 0 });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`Configuration error: ${error.message}\n`);
    return 1;
  }
  try {
    const result = await store.verify();
    if (result.intact) {
      process.stdout.write(`audit trail intact: ${result.records} records\n`);
      return 0;
    }
    process.stdout.write(`audit trail BROKEN at record #${result.firstBroken ?? '?'}: ${result.problem} (${result.records} records verified before it)\n`);
    return 1;
  } finally {
    await store.close();
  }
}

process.exitCode = await main();
