/**
 * Where the gateway is and who the caller is. The gateway: `?gateway=` in the page's URL, else
 * VITE_GATEWAY_URL at build time, else http://localhost:4000 (`npm start`). The token: `?token=`
 * (then taken out of the address bar, so it is not left in the history or bookmarked) or pasted
 * into the page; kept in sessionStorage so a reload keeps it.
 */
const TOKEN_KEY = 'didit-example-token';

export function gatewayOrigin(params: URLSearchParams): string {
  const given = params.get('gateway') ?? import.meta.env.VITE_GATEWAY_URL ?? 'http://localhost:4000';
  const url = URL.canParse(given) ? new URL(given) : undefined;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new Error(`Not a gateway URL: ${given}`);
  return url.origin;
}

export function takeTokenFromUrl(): string {
  const url = new URL(location.href);
  const token = url.searchParams.get('token');
  if (token) {
    saveToken(token);
    url.searchParams.delete('token');
    history.replaceState(null, '', url);
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function saveToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

/** Where the sandbox (or Didit) sends the applicant back: this page, without any token. */
export function callbackUrl(params: URLSearchParams): string {
  const back = new URL(location.pathname, location.origin);
  const gateway = params.get('gateway');
  if (gateway) back.searchParams.set('gateway', gateway);
  return back.href;
}
