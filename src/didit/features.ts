/**
 * Didit takes a verification's features as one string, such as "OCR + NFC + FACE + AML".
 * Only the eight combinations the API documents exist: OCR is always there, the others are
 * optional, and they are always written in the order OCR, NFC, FACE, AML.
 */
export const FEATURES = ['OCR', 'NFC', 'FACE', 'AML'] as const;
export type Feature = (typeof FEATURES)[number];

const SEPARATOR = ' + ';

/** The eight strings Didit accepts, each with the features it names. */
const VALID = new Map<string, Feature[]>(
  [
    ['OCR'],
    ['OCR', 'NFC'],
    ['OCR', 'AML'],
    ['OCR', 'NFC', 'AML'],
    ['OCR', 'FACE'],
    ['OCR', 'NFC', 'FACE'],
    ['OCR', 'FACE', 'AML'],
    ['OCR', 'NFC', 'FACE', 'AML'],
  ].map((set) => [set.join(SEPARATOR), set as Feature[]]),
);

/**
 * The upstream string for a set of features, or `null` when Didit has no such combination
 * (OCR missing, an unknown name). Duplicates and order do not matter.
 */
export function featuresToWire(features: readonly string[]): string | null {
  const wanted = new Set(features);
  if ([...wanted].some((f) => !(FEATURES as readonly string[]).includes(f))) return null;
  const wire = FEATURES.filter((f) => wanted.has(f)).join(SEPARATOR);
  return VALID.has(wire) ? wire : null;
}

/** Whether a string is one of the eight combinations, exactly as Didit writes them. */
export function isWireFeatures(value: string): boolean {
  return VALID.has(value);
}

/** The names in an upstream string, as Didit wrote them ("OCR + FACE" -> ["OCR", "FACE"]). */
export function splitFeatures(value: string | null | undefined): string[] {
  return value ? value.split('+').flatMap((part) => (part.trim() ? [part.trim()] : [])) : [];
}

/**
 * The features among `names`, in canonical order. Names Didit adds later are reported through
 * `onUnknown` and left out, so they never break a response.
 */
export function knownFeatures(names: readonly string[], onUnknown?: (name: string) => void): Feature[] {
  const out = new Set<string>();
  for (const name of names) {
    if ((FEATURES as readonly string[]).includes(name)) out.add(name);
    else onUnknown?.(name);
  }
  return FEATURES.filter((f) => out.has(f));
}

/** The features named by an upstream string, in canonical order (unknown names as `knownFeatures`). */
export function featuresFromWire(value: string | null | undefined, onUnknown?: (name: string) => void): Feature[] {
  return knownFeatures(splitFeatures(value), onUnknown);
}
