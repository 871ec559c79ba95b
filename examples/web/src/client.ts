import { cacheExchange } from '@urql/exchange-graphcache';
import { Client, fetchExchange } from '@urql/core';
import { keys } from './cache.ts';

/**
 * An urql client for one gateway and one caller. Make a new one when the token changes: the
 * normalized cache holds what that caller may see (a reviewer's AML data, for instance).
 */
export function createGatewayClient(gatewayOrigin: string, token: string): Client {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  return new Client({
    url: `${gatewayOrigin}/graphql`,
    // graphcache: one record per session, so a mutation's or a subscription's result updates
    // every query that shows that session, without refetching.
    exchanges: [cacheExchange({ keys }), fetchExchange],
    // Subscriptions over Server-Sent Events on the same endpoint and with the same header as
    // queries (the gateway also speaks graphql-ws over WebSocket, with the token in the
    // connection parameters, for which urql has `subscriptionExchange`).
    fetchSubscriptions: true,
    // urql sends short queries as GET by default; the gateway refuses a GET without a custom
    // header (CSRF prevention). Another engineer is making GET with Authorization acceptable;
    // until then every operation is a POST.
    preferGetMethod: false,
    // A bearer token, no cookie: the gateway's CORS allows any origin in development.
    fetchOptions: { headers },
  });
}
