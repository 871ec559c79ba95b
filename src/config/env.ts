import { parseUrl } from '../lib/url.ts';

/**
 * Reading an environment: the readers every variable goes through, and the error that names the
 * first bad one. Messages never include a variable's value, so a secret set in the wrong place is
 * not printed. The gateway's variables are described in `config.ts`, the sandbox's in `sandbox.ts`.
 */

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly variable: string, problem: string) {
    super(`${variable} ${problem}`);
  }
}

export type Env = Record<string, string | undefined>;


/** Key bytes that print as `[secret]` in logs, JSON and `util.inspect`, never as their value. */
export class SecretKey {
  readonly #bytes: Buffer;
  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }
  bytes(): Buffer {
    return this.#bytes;
  }
  toJSON() {
    return '[secret]';
  }
  [Symbol.for('nodejs.util.inspect.custom')]() {
    return '[secret]';
  }
}

/**
 * Readers of one environment's variables, shared by the gateway's and the sandbox's schema.
 * A variable that is empty or only whitespace counts as unset and takes its default (a compose
 * file's `FOO=` or an emptied `.env` line should not stop a process), and values are trimmed.
 */
export function variables(env: Env) {
  const read = (name: string) => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };

  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = read(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      throw new ConfigError(name, `must be a whole number from ${min} to ${max}`);
    }
    return Number(raw);
  };

  const httpUrl = (name: string, fallback?: string): URL | undefined => {
    const raw = read(name) ?? fallback;
    if (raw === undefined) return undefined;
    const url = parseUrl(raw);
    if (url?.protocol !== 'http:' && url?.protocol !== 'https:') throw new ConfigError(name, 'must be an http(s) URL');
    return url;
  };

  const origin = (name: string, fallback?: string): string | undefined => {
    const url = httpUrl(name, fallback);
    if (url?.username || url?.password) throw new ConfigError(name, 'must be an http(s) URL without credentials');
    return url?.origin;
  };

  const secret = (name: string, minLength: number): string | undefined => {
    const value = read(name);
    if (value !== undefined && value.length < minLength) {
      throw new ConfigError(name, `must be at least ${minLength} characters long`);
    }
    return value;
  };

  /** 32 bytes written as 64 hex digits or as base64 (standard or URL-safe). */
  const key32 = (name: string): SecretKey | undefined => {
    const raw = read(name);
    if (raw === undefined) return undefined;
    const bytes = /^[0-9a-f]{64}$/i.test(raw) ? Buffer.from(raw, 'hex') : /^[A-Za-z0-9+/_-]{43}=?$/.test(raw) ? Buffer.from(raw, 'base64') : undefined;
    if (bytes?.length !== 32) throw new ConfigError(name, 'must be 32 bytes written as 64 hex digits or as base64 (e.g. openssl rand -base64 32)');
    return new SecretKey(bytes);
  };

  /** A whole percentage such as `20` or `20%`, returned as a fraction. */
  const percent = (name: string, fallback: number, min: number, max: number): number => {
    const raw = read(name)?.replace(/\s*%$/, '');
    if (raw === undefined) return fallback / 100;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      throw new ConfigError(name, `must be a whole percentage from ${min} to ${max}`);
    }
    return Number(raw) / 100;
  };

  const bool = (name: string): boolean => {
    const raw = read(name)?.toLowerCase();
    if (raw === undefined) return false;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    throw new ConfigError(name, 'must be true or false');
  };

  return { read, int, httpUrl, origin, secret, key32, percent, bool };
}

export type Variables = ReturnType<typeof variables>;
