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
  type FragmentDefinitionNode,
  type GraphQLSchema,
} from 'graphql';
import { isSessionId } from '../didit/session-id.ts';

/**
 * How a field says which Didit sessions it reads: `extensions: readsSessions((args) => [args.id])`.
 * Fields that read sessions declare it in the schema, so that an operation's upstream cost is
 * known from the document alone, before anything runs.
 */
export function readsSessions<Args>(pick: (args: Args) => ReadonlyArray<string | null | undefined> | null | undefined) {
  return { upstreamSessions: pick as (args: Record<string, unknown>) => ReadonlyArray<unknown> | null | undefined };
}

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
  const variables = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables ?? {}, { maxErrors: 1 });
  if (variables.errors) return undefined;

  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const ids = new Set<string>();
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
          if (!definition || typeof pick !== 'function') return;
          let args: Record<string, unknown>;
          try {
            args = getArgumentValues(definition, field, variables.coerced);
          } catch {
            return; // Bad arguments: the field fails before calling Didit.
          }
          for (const id of (pick as (args: Record<string, unknown>) => unknown[] | null | undefined)(args) ?? []) {
            if (typeof id === 'string' && isSessionId(id)) ids.add(id.toLowerCase());
          }
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
  return ids;
}
