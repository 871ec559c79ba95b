import { isLoopback } from '../lib/url.ts';

/**
 * Why `createSession.callback` may not be used, or null when it may: Didit sends the applicant's
 * browser there when the verification ends, so an attacker-chosen callback would be an open
 * redirect carrying the applicant straight from a trusted flow to a phishing page.
 *
 * The URL must parse, be https (http only on localhost/127.0.0.1 in sandbox mode), carry no
 * credentials, no backslash, whitespace or control character, and its origin must equal one of the
 * allowed origins exactly. The raw text must also begin with that origin, so no parser quirk
 * (`https://ok.com@evil.com`, `https://ok.com.evil.com`, encoded variants) can make the string
 * the browser reads differ from the one checked here.
 * (Its bare form is checked again by `didit/checks.ts`'s `assertCallbackUrl` on every call to Didit.)
 */
export function callbackRefusal(callback: string, allowedOrigins: readonly string[], sandbox: boolean): string | null {
  if (callback.length > 2048) return 'callback is too long';
  if (/[\\\s\u0000-\u001f\u007f]/.test(callback)) return 'callback contains characters a URL may not have';
  let url: URL;
  try {
    url = new URL(callback);
  } catch {
    return 'callback must be an absolute URL';
  }
  if (url.username || url.password) return 'callback may not contain credentials';
  const localSandbox = sandbox && url.protocol === 'http:' && isLoopback(url.hostname) && url.hostname !== '[::1]';
  if (url.protocol !== 'https:' && !localSandbox) return 'callback must use https';
  if (!localSandbox) {
    if (allowedOrigins.length === 0) return 'callbacks are refused until CALLBACK_ALLOWED_ORIGINS lists the allowed origins';
    if (!allowedOrigins.includes(url.origin)) return 'callback origin is not in CALLBACK_ALLOWED_ORIGINS';
  }
  const rest = callback.slice(url.origin.length);
  if (!callback.toLowerCase().startsWith(url.origin.toLowerCase()) || !(rest === '' || /^[/?#]/.test(rest))) {
    return 'callback must be written in its plain form (scheme://host[:port]/path)';
  }
  return null;
}
