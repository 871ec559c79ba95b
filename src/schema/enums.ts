import { FEATURES } from '../didit/features.ts';
import { CHECK_STATUSES, SESSION_STATUSES } from '../domain/status.ts';
import { builder } from './builder.ts';

/** "Not Started" -> "NOT_STARTED", "Kyc Expired" -> "KYC_EXPIRED". */
function enumName(value: string): string {
  return value.trim().toUpperCase().replace(/[\s-]+/g, '_');
}

export const SessionStatus = builder.enumType('SessionStatus', {
  description: "Didit's statuses; DELETED is the gateway's own, for the last event of an erased session; UNKNOWN stands for a status Didit adds later.",
  values: [...SESSION_STATUSES.map(enumName), 'DELETED', 'UNKNOWN'],
});

export const CheckStatus = builder.enumType('CheckStatus', {
  description: 'Status of one check (kyc.status, face.livenessStatus, aml.status, ...).',
  values: [...CHECK_STATUSES.map(enumName), 'UNKNOWN'],
});

export const VerificationFeature = builder.enumType('VerificationFeature', {
  description: 'Sent upstream as one string, "OCR + NFC + FACE + AML" in this order; OCR is required.',
  values: FEATURES,
});

export const ReviewDecision = builder.enumType('ReviewDecision', {
  values: { APPROVED: { value: 'Approved' }, DECLINED: { value: 'Declined' } } as const,
});

const sessionStatuses = new Set<string>([...SESSION_STATUSES.map(enumName), 'DELETED']);
const checkStatuses = new Set<string>(CHECK_STATUSES.map(enumName));

type Warn = (message: string, details: Record<string, unknown>) => void;

function mapEnum(known: Set<string>, kind: string, value: unknown, warn: Warn): string {
  const name = typeof value === 'string' ? enumName(value) : '';
  if (known.has(name)) return name;
  // A value Didit added later must not fail the response; it is logged (it holds no personal data).
  warn('unknown upstream enum value', { kind, value: typeof value === 'string' ? value.slice(0, 40) : typeof value });
  return 'UNKNOWN';
}

/** The enum value back as Didit spells the status ("IN_REVIEW" -> "In Review", "KYC_EXPIRED" -> "Kyc Expired"). */
export function fromSessionStatus(name: string): string {
  return name.toLowerCase().replace(/(^|_)(\w)/g, (_, sep: string, c: string) => (sep ? ' ' : '') + c.toUpperCase());
}

/** A Didit session status as the enum value, UNKNOWN (logged) for one Didit added later. */
export function toSessionStatus(value: unknown, warn: Warn): string {
  return mapEnum(sessionStatuses, 'SessionStatus', value, warn);
}

/** A check status as the enum value; `null` stays null, an unknown value is UNKNOWN (logged). */
export function toCheckStatus(value: unknown, warn: Warn): string | null {
  if (value === null || value === undefined) return null;
  return mapEnum(checkStatuses, 'CheckStatus', value, warn);
}
