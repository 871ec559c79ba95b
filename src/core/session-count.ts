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

type Pick = (args: Record<string, unknown>) => ReadonlyArray<unknown> | null | undefined;

/** A field of an operation that reads sessions, and how to tell which from its arguments. */
interface Reader {
  definition: GraphQLField<unknown, unknown>;
  field: FieldNode;
  pick: Pick;
}

/**
 * Per parsed document (Yoga's parser cache hands the same one to every request with the same
 * text) and operation, the fields that read sessions: the schema walk is done once per document.
 */
const readersByDocument = new WeakMap<DocumentNode, Map<OperationDefinitionNode, Reader[]>>();

/**
 * The distinct session ids an operation may read from Didit, across all its aliases and fields,
 * fragments followed and variables resolved. A field counts whether or not a directive would skip
 * it (counting more is the safe side). Undefined when the operation or its variables are invalid:
 * execution refuses those before any Didit call.
 */
export function upstreamSessions(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  rawVariables: Readonly<Record<string, unknown>> | null | undefined,
): Set<string> | undefined {
  const operation = getOperationAST(document, operationName);
  if (!operation) return undefined;
  let byOperation = readersByDocument.get(document);
  if (!byOperation) readersByDocument.set(document, (byOperation = new Map()));
  let readers = byOperation.get(operation);
  if (!readers) byOperation.set(operation, (readers = findReaders(schema, document, operation)));

  const ids = new Set<string>();
  if (readers.length === 0) return ids;
  const variables = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables ?? {}, { maxErrors: 1 });
  if (variables.errors) return undefined;
  for (const { definition, field, pick } of readers) {
    let args: Record<string, unknown>;
    try {
      args = getArgumentValues(definition, field, variables.coerced);
    } catch {
      continue; // Bad arguments: the field fails before calling Didit.
    }
    for (const id of pick(args) ?? []) if (isSessionId(id)) ids.add(id.toLowerCase());
  }
  return ids;
}

/** Walks the operation and the fragments it spreads (each once) for fields that read sessions. */
function findReaders(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): Reader[] {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const readers: Reader[] = [];
  const followed = new Set<string>();
  const pending: ASTNode[] = [operation];
  for (let node = pending.pop(); node; node = pending.pop()) {
    const typeInfo = new TypeInfo(schema);
    visit(
      node,
      visitWithTypeInfo(typeInfo, {
        Field(field) {
          const definition = typeInfo.getFieldDef();
          const pick = definition?.extensions.upstreamSessions;
          if (definition && typeof pick === 'function') readers.push({ definition, field, pick: pick as Pick });
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
  return readers;
}
