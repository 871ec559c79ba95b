import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * Keys whose values are secrets or applicant data. The gateway does not log such things on purpose;
 * redaction is the second line, for whatever an error or a future change puts in a log line.
 */
const SENSITIVE_KEYS = [
  'authorization', 'cookie', 'token', 'access_token', 'accessToken', 'client_secret', 'clientSecret', 'secret',
  'password', 'x-signature', 'x-signature-v2', 'signature', 'vendor_data', 'vendorData', 'sub',
  'first_name', 'firstName', 'last_name', 'lastName', 'full_name', 'fullName', 'name', 'caption',
  'document_number', 'documentNumber', 'personal_number', 'personalNumber', 'date_of_birth', 'dateOfBirth',
  'address', 'formatted_address', 'formattedAddress', 'parsed_address', 'parsedAddress', 'place_of_birth',
  'placeOfBirth', 'ip_address', 'ipAddress', 'ip', 'remoteAddress', 'email', 'user',
  'portrait_image', 'front_image', 'back_image', 'full_front_image', 'full_back_image', 'front_video',
  'back_video', 'source_image', 'target_image', 'video_url', 'url', 'callback', 'comment', 'kyc', 'aml',
  'face', 'location', 'decision', 'variables', 'query',
];

const REDACT_PATHS = SENSITIVE_KEYS.flatMap((key) => {
  const k = /^[A-Za-z_][\w]*$/.test(key) ? key : `["${key}"]`;
  const join = (prefix: string) => (k.startsWith('[') ? `${prefix}${k}` : `${prefix}.${k}`);
  return [k.startsWith('[') ? k : key, join('*'), join('*.*')];
});

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'didit-gateway' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // Errors are logged by kind and code only: messages and stacks could quote upstream data.
      serializers: {
        err: (error: unknown) => {
          const e = error as { name?: string; code?: unknown; status?: unknown };
          return { type: e?.name ?? typeof error, code: e?.code, status: e?.status };
        },
      },
    },
    destination,
  );
}
