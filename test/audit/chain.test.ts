import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, type Canonical } from '../../src/audit/canonical.ts';
import { EMPTY_HEAD, GENESIS, headMac, recordHash, verifyChain, type ChainHead, type StoredRecord } from '../../src/audit/chain.ts';
import { csvCell } from '../../src/audit/csv.ts';

/** The canonical encoding, the hash chain and CSV cells, by property. */
const canonical: fc.Arbitrary<Canonical> = fc.letrec<{ value: Canonical }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.string({ unit: 'binary' }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ unit: 'binary' }), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** The same value with its objects' keys in another order. */
function shuffled(value: Canonical, seed: number): Canonical {
  if (Array.isArray(value)) return value.map((item, i) => shuffled(item, seed + i));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value);
  const rotated = entries.map((_, i) => entries[(i + seed) % entries.length]!).reverse();
  return Object.fromEntries(rotated.map(([k, v]) => [k, shuffled(v, seed + 1)]));
}

describe('canonical JSON', () => {
  it('is valid JSON that parses back to the value', () => {
    fc.assert(
      fc.property(canonical, (value) => {
        expect(JSON.parse(canonicalJson(value))).toEqual(value);
      }),
    );
  });

  it('does not depend on key order', () => {
    fc.assert(fc.property(canonical, fc.nat(), (value, seed) => canonicalJson(shuffled(value, seed)) === canonicalJson(value)));
  });

  it('is the same for two values exactly when they are deeply equal', () => {
    fc.assert(
      fc.property(canonical, canonical, (a, b) => {
        const same = canonicalJson(a) === canonicalJson(b);
        expect(same).toBe(JSON.stringify(JSON.parse(canonicalJson(a))) === JSON.stringify(JSON.parse(canonicalJson(b))));
        if (!same) expect(a).not.toEqual(b);
      }),
    );
  });

  it('refuses what has no single text: floats, undefined, functions', () => {
    expect(() => canonicalJson(1.5)).toThrow(TypeError);
    expect(() => canonicalJson(2 ** 53)).toThrow(TypeError);
    expect(() => canonicalJson({ a: undefined } as never)).toThrow(TypeError);
    expect(() => canonicalJson((() => 1) as never)).toThrow(TypeError);
    expect(canonicalJson({ b: [1, 'x'], a: null })).toBe('{"a":null,"b":[1,"x"]}');
  });
});

const KEY = Buffer.alloc(32, 7);
const text = fc.option(fc.string({ maxLength: 12 }), { nil: null });
const entry = fc.record({
  action: fc.constantFrom('createSession', 'updateSessionStatus', 'deleteSession'),
  actor: text,
  roles: fc.subarray(['reviewer', 'auditor']),
  sessionId: text,
  statusBefore: text,
  statusAfter: text,
  comment: text,
  outcome: fc.constantFrom('STARTED', 'DONE', 'FORBIDDEN'),
  requestId: text,
  at: fc.integer({ min: 0, max: 4_000_000_000_000 }),
});
type Entry = typeof entry extends fc.Arbitrary<infer T> ? T : never;

/** A chain as the store writes it. */
function chainOf(entries: Entry[]): { records: StoredRecord[]; head: ChainHead } {
  const records: StoredRecord[] = [];
  let previous = GENESIS;
  entries.forEach(({ at, ...fields }, i) => {
    const record = { ...fields, seq: i + 1, at: new Date(at), prevHash: previous };
    previous = recordHash(KEY, record);
    records.push({ ...record, hash: previous });
  });
  const head = { ...EMPTY_HEAD, lastSeq: records.length, lastHash: previous };
  return { records, head: { ...head, mac: headMac(KEY, head) } };
}

async function* each(records: StoredRecord[]) {
  yield* records;
}

describe('the hash chain', () => {
  it('verifies every chain written in order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 12 }), async (entries) => {
        const { records, head } = chainOf(entries);
        expect(await verifyChain(KEY, head, each(records))).toEqual({ intact: true, records: records.length, firstBroken: null, problem: null });
      }),
    );
  });

  it('names the first record whose any field was changed', async () => {
    const fields = ['action', 'actor', 'sessionId', 'statusBefore', 'statusAfter', 'comment', 'outcome', 'requestId'] as const;
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 10 }), fc.nat(), fc.constantFrom(...fields), fc.string({ minLength: 1, maxLength: 5 }), async (entries, pick, field, junk) => {
        const { records, head } = chainOf(entries);
        const i = pick % records.length;
        const changed = records.map((r) => ({ ...r }));
        changed[i] = { ...changed[i]!, [field]: `${changed[i]![field] ?? ''}${junk}` };
        expect(await verifyChain(KEY, head, each(changed))).toMatchObject({ intact: false, firstBroken: i + 1, problem: `record #${i + 1} was changed` });
      }),
    );
  });

  it('names a removed record, and a record added by anyone without the key', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 10 }), fc.nat(), entry, async (entries, pick, extra) => {
        const { records, head } = chainOf(entries);
        const i = pick % records.length;
        const removed = await verifyChain(KEY, head, each(records.filter((_, j) => j !== i)));
        expect(removed).toMatchObject({ intact: false, firstBroken: i + 1, problem: expect.stringMatching(new RegExp(`^record #${i + 1} was removed`)) });
        // Appended with a hash made without the key (or with a wrong one): not part of the chain.
        const forged = chainOf([...entries, extra]).records.at(-1)!;
        const otherKey = { ...forged, hash: recordHash(Buffer.alloc(32, 8), forged) };
        for (const record of [forged, otherKey]) {
          expect(await verifyChain(KEY, head, each([...records, record]))).toMatchObject({ intact: false, firstBroken: records.length + 1 });
        }
        // And a head moved back over a removed tail needs the key too.
        const cut = { ...head, lastSeq: head.lastSeq - 1, lastHash: records.at(-2)?.hash ?? GENESIS };
        expect((await verifyChain(KEY, { ...cut, mac: head.mac }, each(records.slice(0, -1)))).intact).toBe(false);
      }),
    );
  });
});

describe('CSV cells', () => {
  /** What a spreadsheet reads back from one quoted cell. */
  const read = (cell: string) => cell.slice(1, -1).replace(/""/g, '"');
  it('keep the text, and never start with what a spreadsheet runs as a formula', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (value) => {
        const cell = csvCell(value);
        expect(cell.startsWith('"') && cell.endsWith('"')).toBe(true);
        const back = read(cell);
        expect(back).not.toMatch(/^\s*[=+\-@\t\r]/);
        expect(back === value || back === `'${value}`).toBe(true);
      }),
    );
    expect(csvCell('=1+1')).toBe(`"'=1+1"`);
    expect(csvCell(' @SUM(A1)')).toBe(`"' @SUM(A1)"`);
    expect(csvCell('a "quoted" word')).toBe('"a ""quoted"" word"');
    expect(csvCell(null)).toBe('""');
  });
});
