/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  mutation StartVerification($callback: URL!, $features: [VerificationFeature!]) {\n    createSession(input: { callback: $callback, features: $features }) {\n      session {\n        id\n        url\n        status\n      }\n    }\n  }\n": typeof types.StartVerificationDocument,
    "\n  subscription WatchStatus($sessionId: ID!) {\n    sessionStatusChanged(sessionId: $sessionId) {\n      status\n      occurredAt\n      session {\n        id\n        status\n        decision {\n          id\n          status\n          kyc {\n            fullName\n          }\n        }\n      }\n    }\n  }\n": typeof types.WatchStatusDocument,
    "\n  query SessionCard($id: ID!) {\n    session(id: $id) {\n      id\n      status\n      decision {\n        id\n        status\n        kyc {\n          status\n          fullName\n          documentType\n          issuingStateName\n        }\n        aml {\n          status\n          score\n          totalHits\n        }\n      }\n    }\n  }\n": typeof types.SessionCardDocument,
    "\n  mutation Approve($sessionId: ID!, $comment: String) {\n    updateSessionStatus(input: { sessionId: $sessionId, status: APPROVED, comment: $comment }) {\n      session {\n        id\n        status\n        decision {\n          id\n          status\n        }\n      }\n    }\n  }\n": typeof types.ApproveDocument,
};
const documents: Documents = {
    "\n  mutation StartVerification($callback: URL!, $features: [VerificationFeature!]) {\n    createSession(input: { callback: $callback, features: $features }) {\n      session {\n        id\n        url\n        status\n      }\n    }\n  }\n": types.StartVerificationDocument,
    "\n  subscription WatchStatus($sessionId: ID!) {\n    sessionStatusChanged(sessionId: $sessionId) {\n      status\n      occurredAt\n      session {\n        id\n        status\n        decision {\n          id\n          status\n          kyc {\n            fullName\n          }\n        }\n      }\n    }\n  }\n": types.WatchStatusDocument,
    "\n  query SessionCard($id: ID!) {\n    session(id: $id) {\n      id\n      status\n      decision {\n        id\n        status\n        kyc {\n          status\n          fullName\n          documentType\n          issuingStateName\n        }\n        aml {\n          status\n          score\n          totalHits\n        }\n      }\n    }\n  }\n": types.SessionCardDocument,
    "\n  mutation Approve($sessionId: ID!, $comment: String) {\n    updateSessionStatus(input: { sessionId: $sessionId, status: APPROVED, comment: $comment }) {\n      session {\n        id\n        status\n        decision {\n          id\n          status\n        }\n      }\n    }\n  }\n": types.ApproveDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation StartVerification($callback: URL!, $features: [VerificationFeature!]) {\n    createSession(input: { callback: $callback, features: $features }) {\n      session {\n        id\n        url\n        status\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation StartVerification($callback: URL!, $features: [VerificationFeature!]) {\n    createSession(input: { callback: $callback, features: $features }) {\n      session {\n        id\n        url\n        status\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription WatchStatus($sessionId: ID!) {\n    sessionStatusChanged(sessionId: $sessionId) {\n      status\n      occurredAt\n      session {\n        id\n        status\n        decision {\n          id\n          status\n          kyc {\n            fullName\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription WatchStatus($sessionId: ID!) {\n    sessionStatusChanged(sessionId: $sessionId) {\n      status\n      occurredAt\n      session {\n        id\n        status\n        decision {\n          id\n          status\n          kyc {\n            fullName\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query SessionCard($id: ID!) {\n    session(id: $id) {\n      id\n      status\n      decision {\n        id\n        status\n        kyc {\n          status\n          fullName\n          documentType\n          issuingStateName\n        }\n        aml {\n          status\n          score\n          totalHits\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query SessionCard($id: ID!) {\n    session(id: $id) {\n      id\n      status\n      decision {\n        id\n        status\n        kyc {\n          status\n          fullName\n          documentType\n          issuingStateName\n        }\n        aml {\n          status\n          score\n          totalHits\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Approve($sessionId: ID!, $comment: String) {\n    updateSessionStatus(input: { sessionId: $sessionId, status: APPROVED, comment: $comment }) {\n      session {\n        id\n        status\n        decision {\n          id\n          status\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation Approve($sessionId: ID!, $comment: String) {\n    updateSessionStatus(input: { sessionId: $sessionId, status: APPROVED, comment: $comment }) {\n      session {\n        id\n        status\n        decision {\n          id\n          status\n        }\n      }\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;