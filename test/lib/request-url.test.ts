import { expect, it } from 'vitest';
import { pathnameOf } from '../../src/lib/request-url.ts';

it('routes on the same path as URL parsing gives, for plain and for unusual request targets', () => {
  const targets = [
    '/graphql',
    '/graphql?query=%7B__typename%7D',
    '/webhooks/didit',
    '/reports/0b7c1f6e-8a9b-4c2d-9e1f-2a3b4c5d6e7f.pdf?expires=1&signature=abc',
    '/./graphql',
    '/a/../graphql',
    '/%67raphql',
    '//graphql',
    '/graphql#fragment',
    'http://gateway.example/graphql?x=1',
    '*',
    '',
    `/${'graphql/'.repeat(1000)}!`,
  ];
  for (const target of targets) {
    expect(pathnameOf(target), target).toBe(new URL(target, 'http://gateway.invalid').pathname);
  }
  expect(pathnameOf(undefined)).toBe('/');
});
