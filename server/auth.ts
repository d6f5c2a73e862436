/**
 * The shared-secret gate used when Tributary serves beyond loopback.
 * With TRIBUTARY_AUTH_TOKEN set, every request must carry it: HTTP Basic auth
 * (any user name, the token as password; browsers prompt for it) or
 * `Authorization: Bearer <token>`. Unset, the server only listens on loopback.
 */

export const AUTH_REALM = "Tributary";

/** Compare in time independent of where the strings differ. */
function sameSecret(a: string, b: string): boolean {
  const len = Math.max(a.length, b.length);
  let diff = a.length ^ b.length;
  for (let i = 0; i < len; i++) diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  return diff === 0;
}

/** The secret a request presents, from Basic or Bearer credentials. */
function presented(authorization: string | null): string | null {
  if (!authorization) return null;
  const [scheme, value] = authorization.split(" ", 2);
  if (!value) return null;
  if (scheme?.toLowerCase() === "bearer") return value.trim();
  if (scheme?.toLowerCase() === "basic") {
    try {
      const decoded = atob(value.trim());
      const colon = decoded.indexOf(":");
      return colon >= 0 ? decoded.slice(colon + 1) : null;
    } catch {
      return null;
    }
  }
  return null;
}

/** True when no token is configured, or the request presents it. */
export function isAuthorized(authorization: string | null, token = process.env.TRIBUTARY_AUTH_TOKEN): boolean {
  if (!token) return true;
  const secret = presented(authorization);
  return secret !== null && sameSecret(secret, token);
}

export function unauthorizedResponse(): Response {
  return new Response("Authentication required: use the TRIBUTARY_AUTH_TOKEN as the password.\n", {
    status: 401,
    headers: { "WWW-Authenticate": `Basic realm="${AUTH_REALM}", charset="UTF-8"`, "Content-Type": "text/plain" },
  });
}
