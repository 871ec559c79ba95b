import { GraphQLError, Kind, type ValueNode } from 'graphql';
import { builder } from './builder.ts';

/**
 * Scalars validate what they accept (a bad variable or literal is BAD_USER_INPUT) and what they
 * write. Upstream values are normalised by the `as*` helpers below before they reach a scalar,
 * so one odd value from Didit becomes `null` instead of an error.
 */

const DATE_TIME = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?$/i;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * An ISO-8601 instant in UTC, always written alike, with milliseconds: `2024-07-28T06:46:39.354Z`
 * (what JavaScript's `toISOString` writes), whatever precision Didit sent. Times without an
 * offset are UTC (Didit writes AML dates that way). Anything else: null.
 */
export function asDateTime(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const match = DATE_TIME.exec(value);
  if (!match) return null;
  const [, day, time, fraction = '', offset = 'Z'] = match;
  const zone = offset.toUpperCase() === 'Z' ? 'Z' : offset.replace(/^([+-]\d{2}):?(\d{2})$/, '$1:$2');
  const ms = Date.parse(`${day}T${time}${zone}`);
  if (Number.isNaN(ms)) return null;
  return `${new Date(ms).toISOString().slice(0, 19)}${`${fraction || '.'}000`.slice(0, 4)}Z`;
}

/** A calendar date `YYYY-MM-DD` that exists, or null. Plain arithmetic: this runs for every date field. */
export function asDate(value: unknown): string | null {
  if (typeof value !== 'string' || !DATE.test(value)) return null;
  const year = Number(value.slice(0, 4));
  const month = Number(value.slice(5, 7));
  const day = Number(value.slice(8, 10));
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
  return month >= 1 && month <= 12 && day >= 1 && day <= days ? value : null;
}

/** An absolute http(s) URL, or null. */
export function asUrl(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 4096) return null;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? value : null;
  } catch {
    return null;
  }
}

function badInput(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}

function stringScalar(name: string, description: string, check: (value: unknown) => string | null) {
  const parse = (value: unknown) => {
    const checked = check(value);
    if (checked === null) throw badInput(`${name} cannot represent this value: ${description}`);
    return checked;
  };
  builder.scalarType(name as 'DateTime' | 'Date' | 'URL', {
    description,
    serialize: parse,
    parseValue: parse,
    parseLiteral: (ast: ValueNode) => parse(ast.kind === Kind.STRING ? ast.value : undefined),
  });
}

stringScalar('DateTime', 'An ISO-8601 instant, always written in UTC with Z.', asDateTime);
stringScalar('Date', 'A calendar date, YYYY-MM-DD.', asDate);
stringScalar('URL', 'An absolute http or https URL.', asUrl);

const MAX_JSON_DEPTH = 32;

function jsonDepth(value: unknown, depth = 0): number {
  if (depth > MAX_JSON_DEPTH || value === null || typeof value !== 'object') return depth;
  let deepest = depth;
  for (const child of Object.values(value)) deepest = Math.max(deepest, jsonDepth(child, depth + 1));
  return deepest;
}

builder.scalarType('JSON', {
  description: 'Any JSON value, as Didit sent it.',
  serialize: (value) => value,
  parseValue: (value) => {
    if (jsonDepth(value) > MAX_JSON_DEPTH) throw badInput('JSON is nested too deeply');
    return value;
  },
  parseLiteral: () => {
    throw badInput('JSON literals are not accepted; pass a variable');
  },
});
