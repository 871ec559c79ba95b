import { expect, it } from 'vitest';
import { linkExpiry, mediaLifetimeMs } from '../../src/didit/media-expiry.ts';
import type { Decision } from '../../src/domain/model.ts';

const NOW = Date.UTC(2026, 3, 28, 10, 0, 0);
const s3 = (signedAt: string, seconds: number) =>
  `https://bucket.s3.amazonaws.com/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=${signedAt}&X-Amz-Expires=${seconds}&X-Amz-Signature=ab`;
const decision = (media: Record<string, unknown>) => ({ sessionId: 'x', status: 'Approved', idVerifications: [media] }) as unknown as Decision;

it('reads S3 presigned and Expires links', () => {
  expect(linkExpiry(s3('20260428T095000Z', 3600))).toBe(Date.UTC(2026, 3, 28, 10, 50, 0));
  expect(linkExpiry('https://cdn.example.com/a.jpg?Expires=1777370400&Signature=x')).toBe(1777370400 * 1000);
  for (const url of ['https://example.com/a.jpg', 'https://example.com/a.jpg?size=2', s3('yesterday', 60), 'ftp://x?Expires=1777370400']) expect(linkExpiry(url)).toBeUndefined();
});

it('bounds a decision by its first link to expire, less a minute', () => {
  const lifetime = mediaLifetimeMs(decision({ front_image: s3('20260428T095000Z', 3600), back_image: s3('20260428T095500Z', 600) }), 3_000_000, NOW);
  expect(lifetime).toBe(5 * 60_000 - 60_000);
  expect(mediaLifetimeMs(decision({ front_image: s3('20260428T080000Z', 3600) }), 3_000_000, NOW)).toBe(0);
});

it('falls back to the configured bound for links of unreadable lifetime, and leaves link-free decisions alone', () => {
  expect(mediaLifetimeMs(decision({ front_image: 'https://media.example.com/a.jpg?token=abc' }), 3_000_000, NOW)).toBe(3_000_000);
  expect(mediaLifetimeMs(decision({ front_image: 'https://media.example.com/a.jpg?token=abc', back_image: s3('20260428T095000Z', 600) }), 3_000_000, NOW)).toBe(0);
  expect(mediaLifetimeMs(decision({ front_image: 'https://example.com/plain.jpg', full_name: 'Ana' }), 3_000_000, NOW)).toBeUndefined();
});
