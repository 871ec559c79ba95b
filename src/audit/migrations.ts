import type { Db } from './db.ts';

/**
 * The schema, as numbered steps. All run at start in one transaction under an advisory lock, so
 * several instances starting at once apply each step exactly once (the others wait, then find
 * nothing to do). Steps are never edited once released: a change is a new step.
 */
const STEPS: string[] = [
  `create table audit_events (
     seq bigint primary key,
     at timestamptz not null,
     action text not null,
     actor text,
     roles text[] not null,
     session_id text,
     status_before text,
     status_after text,
     comment text,
     outcome text not null,
     request_id text,
     prev_hash text not null,
     hash text not null
   );
   create index audit_events_session on audit_events (session_id, seq);
   create index audit_events_actor on audit_events (actor, seq);
   create index audit_events_at on audit_events (at);
   create table audit_chain (
     id int primary key check (id = 1),
     first_seq bigint not null,
     first_prev text not null,
     last_seq bigint not null,
     last_hash text not null,
     mac text not null
   );
   create table audit_session_keys (session_id text primary key, wrapped text not null, created_at timestamptz not null default now());
   create table audit_read_marks (actor text not null, session_id text not null, hour bigint not null, primary key (actor, session_id, hour));`,
  // The session index (v1 search): no personal data, only what the search filter needs.
  `create table session_index (
     id text primary key,
     vendor_data text,
     status text not null,
     workflow text,
     created_at timestamptz not null,
     updated_at timestamptz not null
   );
   create index session_index_created on session_index (created_at desc, id desc);
   create index session_index_vendor on session_index (vendor_data, created_at desc);`,
];

/** Any fixed number: the lock every instance's migration waits for. */
const MIGRATION_LOCK = 0x6175_6469; // 'audi'

export async function migrate(db: Db): Promise<void> {
  await db.transaction(async (query) => {
    await query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await query('create table if not exists audit_migrations (version int primary key, applied_at timestamptz not null default now())');
    const rows = await query('select coalesce(max(version), 0) as version from audit_migrations');
    const done = Number(rows[0]!.version);
    for (let version = done + 1; version <= STEPS.length; version++) {
      for (const statement of STEPS[version - 1]!.split(';').map((s) => s.trim()).filter(Boolean)) await query(statement);
      await query('insert into audit_migrations (version) values ($1)', [version]);
    }
  });
}
