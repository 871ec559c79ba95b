import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Kind, parse } from 'graphql';
import { ConfigError } from '../../config/env.ts';

const VARIABLE = 'TRUSTED_DOCUMENTS_MANIFESTS';
const HASH = /^(?:sha256:)?([0-9a-f]{64})$/i;

/** The bare lowercase hex of a document hash, whether written `sha256:<hex>` or `<hex>`; null if neither. */
export function normalizeHash(hash: string): string | null {
  return HASH.exec(hash)?.[1]?.toLowerCase() ?? null;
}

/**
 * The trusted documents of every manifest, keyed by bare hex hash (see `normalizeHash`).
 * Each manifest is `{ "<hash>": "<document>" }` as the client preset's `persistedDocuments`
 * writes it; each entry must be the sha256 of a document that parses. Any problem stops the start
 * with a ConfigError naming the manifest by its place in the list (paths are the operator's values).
 */
export function loadTrustedDocuments(paths: string[], variable = VARIABLE): Map<string, string> {
  const documents = new Map<string, string>();
  paths.forEach((path, index) => {
    const which = `entry ${index + 1} of ${paths.length}`;
    let manifest: unknown;
    try {
      manifest = JSON.parse(readFileSync(resolve(path), 'utf8'));
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? 'not JSON';
      throw new ConfigError(variable, `${which} cannot be read as a manifest (${reason})`);
    }
    if (!manifest || typeof manifest !== 'object' || Array.isArray(manifest)) {
      throw new ConfigError(variable, `${which} is not a JSON object of "<hash>": "<document>"`);
    }
    for (const [key, document] of Object.entries(manifest)) {
      const hash = normalizeHash(key);
      if (!hash || typeof document !== 'string') throw new ConfigError(variable, `${which} has an entry that is not "sha256:<hex>": "<document>"`);
      if (createHash('sha256').update(document).digest('hex') !== hash) {
        throw new ConfigError(variable, `${which} has an entry whose hash is not the sha256 of its document`);
      }
      try {
        parse(document);
      } catch {
        throw new ConfigError(variable, `${which} has a document that does not parse`);
      }
      documents.set(hash, document);
    }
  });
  return documents;
}

/** The names of the operations in `documents` (trusted ones: each may be a metrics label). */
export function operationNames(documents: Iterable<string>): Set<string> {
  const names = new Set<string>();
  for (const document of documents) {
    for (const definition of parse(document).definitions) {
      if (definition.kind === Kind.OPERATION_DEFINITION && definition.name) names.add(definition.name.value);
    }
  }
  return names;
}
