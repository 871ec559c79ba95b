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

/**
 * The features named by an upstream string, in canonical order. Names Didit adds later are
 * reported through `onUnknown` and left out, so they never break a response.
 */
export function featuresFromWire(value: string | null | undefined, onUnknown?: (name: string) => void): Feature[] {
  if (!value) return [];
  const out: Feature[] = [];
  for (const part of value.split('+')) {
    const name = part.trim();
    if ((FEATURES as readonly string[]).includes(name)) {
      if (!out.includes(name as Feature)) out.push(name as Feature);
    } else if (name) {
      onUnknown?.(name);
    }
  }
  return FEATURES.filter((f) => out.includes(f));
}
