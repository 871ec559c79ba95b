import {
  Kind,
  TypeInfo,
  getArgumentValues,
  getOperationAST,
  getVariableValues,
  visit,
  visitWithTypeInfo,
  type ASTNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { isSessionId } from '../didit/session-id.ts';

/**
 * How a field says which Didit sessions it reads: `extensions: readsSessions((args) => [args.id])`.
 * Fields that read sessions declare it in the schema, so that an operation's upstream cost is
 * known from the document alone, before anything runs.
 */
export function readsSessions<Args>(pick: (args: Args) => ReadonlyArray<string | null | undefined> | null | undefined) {
  return { upstreamSessions: pick as unknown as Pick };
}

/** `readsSessions` for a field that reads one session at most: `extensions: readsSession((args) => args.id)`. */
export function readsSession<Args>(pick: (args: Args) => string | null | undefined) {
  return { upstreamSessions: ((args: Args) => [pick(args)]) as unknown as Pick, upstreamSessionsAtMost: 1 };
}

/**
 * How a field that finds sessions at run time (a search page) says how many it may return:
 * `extensions: findsSessions((args) => args.first)`. Each counts as a session read when the
 * operation selects `Session.decision` (a search row has no decision: each is read from Didit).
 */
export function findsSessions<Args>(count: (args: Args) => number | null | undefined) {
  return { upstreamSessionCount: count as unknown as Count };
}

type Pick = (args: Record<string, unknown>) => ReadonlyArray<unknown> | null | undefined;
type Count = (args: Record<string, unknown>) => number | null | undefined;

/** A field of an operation that reads sessions, and how to tell which (or how many) from its arguments. */
interface Reader {
  definition: GraphQLField<unknown, unknown>;
  field: FieldNode;
  pick?: Pick;
  count?: Count;
}

interface Readers {
  readers: Reader[];
  /** The most distinct sessions the operation may read whatever its variables (Infinity: it depends on them). */
  atMost: number;
  /** Whether the operation (fragments included) selects `Session.decision`. */
  selectsDecision: boolean;
}

/**
 * Per parsed document (Yoga's parser cache hands the same one to every request with the same
 * text) and operation, the fields that read sessions: the schema walk is done once per document.
 */
const readersByDocument = new WeakMap<DocumentNode, Map<OperationDefinitionNode, Readers>>();

/**
 * The distinct session ids an operation may read from Didit, across all its aliases and fields,
 * fragments followed and variables resolved; a search page that selects decisions adds one
 * stand-in per row it may return. A field counts whether or not a directive would skip
 * it (counting more is the safe side). Undefined when the operation or its variables are invalid:
 * execution refuses those before any Didit call.
 */
export function upstreamSessions(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  rawVariables: Readonly<Record<string, unknown>> | null | undefined,
): Set<string> | undefined {
  const found = readersOf(schema, document, operationName);
  if (!found) return undefined;
  const operation = found.operation;

  const ids = new Set<string>();
  if (found.readers.length === 0) return ids;
  const variables = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables ?? {}, { maxErrors: 1 });
  if (variables.errors) return undefined;
  for (const [index, { definition, field, pick, count }] of found.readers.entries()) {
    let args: Record<string, unknown>;
    try {
      args = getArgumentValues(definition, field, variables.coerced);
    } catch {
      continue; // Bad arguments: the field fails before calling Didit.
    }
    for (const id of pick?.(args) ?? []) if (isSessionId(id)) ids.add(id.toLowerCase());
    if (count && found.selectsDecision) {
      const rows = Math.min(Math.max(0, Math.floor(count(args) ?? 0)), 100_000);
      for (let row = 0; row < rows; row++) ids.add(`found:${index}:${row}`);
    }
  }
  return ids;
}

/** The operation's readers, found once per document and operation. */
function readersOf(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined): (Readers & { operation: OperationDefinitionNode }) | undefined {
  const operation = getOperationAST(document, operationName);
  if (!operation) return undefined;
  let byOperation = readersByDocument.get(document);
  if (!byOperation) readersByDocument.set(document, (byOperation = new Map()));
  let found = byOperation.get(operation);
  if (!found) byOperation.set(operation, (found = findReaders(schema, document, operation)));
  return { ...found, operation };
}

/**
 * The most distinct sessions an operation may read, from the document alone (no variables): what
 * lets the cap pass a document of single-session fields without coercing its variables (`upstreamSessions`
 * then counts no more than this). Infinity when it depends on the variables; 0 for an unknown operation.
 */
export function sessionsAtMost(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined): number {
  return readersOf(schema, document, operationName)?.atMost ?? 0;
}

/** Walks the operation and the fragments it spreads (each once) for fields that read sessions. */
function findReaders(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): Readers {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const readers: Reader[] = [];
  let selectsDecision = false;
  let atMost = 0;
  let counts = false;
  const followed = new Set<string>();
  const pending: ASTNode[] = [operation];
  for (let node = pending.pop(); node; node = pending.pop()) {
    const typeInfo = new TypeInfo(schema);
    visit(
      node,
      visitWithTypeInfo(typeInfo, {
        Field(field) {
          const definition = typeInfo.getFieldDef();
          if (!definition) return;
          const { upstreamSessions: pick, upstreamSessionCount: count, upstreamSessionsAtMost: most } = definition.extensions;
          if (typeof pick === 'function') {
            readers.push({ definition, field, pick: pick as Pick });
            atMost += typeof most === 'number' ? most : Infinity;
          }
          if (typeof count === 'function') {
            readers.push({ definition, field, count: count as Count });
            counts = true;
          }
          if (definition.name === 'decision' && typeInfo.getParentType()?.name === 'Session') selectsDecision = true;
        },
        FragmentSpread(spread) {
          const fragment = fragments.get(spread.name.value);
          if (fragment && !followed.has(spread.name.value)) {
            followed.add(spread.name.value);
            pending.push(fragment);
          }
        },
      }),
    );
  }
  return { readers, selectsDecision, atMost: counts && selectsDecision ? Infinity : atMost };
}
