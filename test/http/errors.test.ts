import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { Forbidden, NotFound, RateLimited, Unauthenticated, Unavailable } from '../../src/core/errors.ts';
import { DiditForbiddenError, DiditRateLimitedError } from '../../src/didit/errors.ts';
import { clientCode, httpAnswerOf, toClientError } from '../../src/http/errors.ts';

/** The edge: the gateway's domain errors become the contract's codes and HTTP answers here, once. */
describe('domain errors at the edge', () => {
  const masked: unknown[] = [];
  const client = (error: unknown) => {
    const mapped = toClientError(error, (original) => masked.push(original));
    return { message: mapped.message, extensions: mapped.extensions };
  };

  it.each<[string, Error, object]>([
    ['Unauthenticated', new Unauthenticated('Invalid or expired token'), { code: 'UNAUTHENTICATED' }],
    ['Forbidden', new Forbidden('Only reviewers may do this'), { code: 'FORBIDDEN' }],
    ['Forbidden, naming the argument', new Forbidden('Only reviewers may set workflowId', 'input.workflowId'), { code: 'FORBIDDEN', argument: 'input.workflowId' }],
    ['NotFound', new NotFound(), { code: 'NOT_FOUND' }],
    ['RateLimited', new RateLimited('Too many requests; try again later', 1200, 'caller'), { code: 'RATE_LIMITED', retryAfter: 2, limit: 'caller' }],
    ['Unavailable', new Unavailable('The audit trail cannot be written'), { code: 'UPSTREAM_UNAVAILABLE' }],
  ])('%s keeps its message and gets its code', (_name, error, extensions) => {
    expect(client(error)).toEqual({ message: error.message, extensions });
    // Thrown by a resolver, it arrives wrapped by graphql-js: the same answer, at its place.
    const located = new GraphQLError(error.message, { path: ['session'], originalError: error });
    expect(toClientError(located, () => {}).path).toEqual(['session']);
    expect(client(located)).toEqual({ message: error.message, extensions });
    expect(clientCode(located)).toBe((extensions as { code: string }).code);
    expect(masked).toEqual([]);
  });

  it('waits at least a second, in whole seconds', () => {
    expect(new RateLimited('x', 0, 'didit').retryAfter).toBe(1);
    expect(new RateLimited('x', 1001, 'didit').retryAfter).toBe(2);
  });

  it('masks anything else, and reports it', () => {
    expect(client(new Error('secret upstream body'))).toEqual({ message: 'Unexpected error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(masked).toHaveLength(1);
  });

  it('answers the plain HTTP routes with a status, Retry-After and the limit', () => {
    const messages = { forbidden: 'not now' };
    expect(httpAnswerOf(new RateLimited('slow down', 3000, 'caller'), messages)).toEqual({ status: 429, body: { error: 'slow down', limit: 'caller' }, headers: { 'retry-after': '3' } });
    expect(httpAnswerOf(new DiditRateLimitedError(7), messages)).toEqual({
      status: 429,
      body: { error: 'Too many requests to Didit; try again later', limit: 'didit' },
      headers: { 'retry-after': '7' },
    });
    expect(httpAnswerOf(new DiditForbiddenError(), messages)).toEqual({ status: 409, body: { error: 'not now' }, headers: {} });
    expect(httpAnswerOf(new Error('boom'), messages)).toEqual({ status: 500, body: { error: 'Internal error' }, headers: {} });
  });
});
