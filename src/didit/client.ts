/**
 * Picks the adapter for the configured Didit API: an API key speaks v3, client credentials v1.
 */
import type { DiditClient } from './port.ts';
import { createDiditV1Client, type DiditV1Client, type DiditV1Options } from './v1.ts';
import { createDiditV3Client, type DiditV3Options } from './v3.ts';

export type DiditClientOptions = DiditV1Options | DiditV3Options;

export function createDiditClient(options: DiditV1Options): DiditV1Client;
export function createDiditClient(options: DiditV3Options): DiditClient;
export function createDiditClient(options: DiditClientOptions): DiditClient;
export function createDiditClient(options: DiditClientOptions): DiditClient {
  return 'apiKey' in options ? createDiditV3Client(options) : createDiditV1Client(options);
}
