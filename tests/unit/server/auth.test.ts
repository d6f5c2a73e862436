import { describe, expect, it } from "vitest";
import { isAuthorized, unauthorizedResponse } from "@/server/auth";

const token = "a-long-random-secret-0123456789";
const basic = (user: string, pass: string) => `Basic ${btoa(`${user}:${pass}`)}`;

describe("the auth gate", () => {
  it("lets everything through when no token is configured (loopback only)", () => {
    expect(isAuthorized(null, "")).toBe(true);
    expect(isAuthorized(null, undefined)).toBe(true);
  });

  it("accepts the token as Basic password (any user) or as Bearer", () => {
    expect(isAuthorized(basic("anyone", token), token)).toBe(true);
    expect(isAuthorized(basic("", token), token)).toBe(true);
    expect(isAuthorized(`Bearer ${token}`, token)).toBe(true);
    expect(isAuthorized(`bearer ${token}`, token)).toBe(true);
  });

  it("refuses a missing, wrong, truncated or extended secret", () => {
    expect(isAuthorized(null, token)).toBe(false);
    expect(isAuthorized("", token)).toBe(false);
    expect(isAuthorized(basic("user", "wrong"), token)).toBe(false);
    expect(isAuthorized(basic("user", token.slice(0, -1)), token)).toBe(false);
    expect(isAuthorized(basic("user", `${token}x`), token)).toBe(false);
    expect(isAuthorized(`Bearer ${token.toUpperCase()}`, token)).toBe(false);
    expect(isAuthorized("Basic !!!not-base64!!!", token)).toBe(false);
    expect(isAuthorized(`Digest ${token}`, token)).toBe(false);
  });

  it("answers 401 with a Basic challenge", async () => {
    const res = unauthorizedResponse();
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Basic realm="Tributary"/);
    expect(await res.text()).toContain("TRIBUTARY_AUTH_TOKEN");
  });
});
