import { expect, it } from 'vitest';
import { asDate, asDateTime, asUrl } from '../../src/schema/scalars.ts';

it('accepts real calendar dates only', () => {
  for (const date of ['1990-01-01', '2024-02-29', '2000-02-29', '1999-12-31']) expect(asDate(date)).toBe(date);
  for (const bad of ['2023-02-29', '1900-02-29', '2024-04-31', '2024-13-01', '2024-00-10', '2024-01-00', '24-01-01', '2024-1-1', '2024-01-01T00:00:00Z', 20240101, null]) {
    expect(asDate(bad)).toBeNull();
  }
});

it('writes instants in UTC with Z and milliseconds, whatever precision Didit sent', () => {
  expect(asDateTime('2024-07-28T06:46:39.354573Z')).toBe('2024-07-28T06:46:39.354Z');
  expect(asDateTime('2024-07-20T17:53:03')).toBe('2024-07-20T17:53:03.000Z');
  expect(asDateTime('2024-07-28T08:46:39.5+02:00')).toBe('2024-07-28T06:46:39.500Z');
  expect(asDateTime('2024-07-28T08:46:39+0200')).toBe('2024-07-28T06:46:39.000Z');
  // The same instant reads the same as the gateway's own times (event times, link expiry).
  expect(asDateTime('2024-07-28T06:46:39.354573Z')).toBe(new Date('2024-07-28T06:46:39.354Z').toISOString());
  for (const bad of ['yesterday', '2024-07-28', '2024-13-28T00:00:00Z', 1722148000]) expect(asDateTime(bad)).toBeNull();
});

it('accepts absolute http(s) URLs only', () => {
  expect(asUrl('https://example.com/a.jpg')).toBe('https://example.com/a.jpg');
  for (const bad of ['javascript:alert(1)', '/relative', 'data:image/png;base64,AA', `https://x.com/${'a'.repeat(5000)}`, 42]) expect(asUrl(bad)).toBeNull();
});
