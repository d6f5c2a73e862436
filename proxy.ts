// Every request passes the auth gate first (a no-op unless TRIBUTARY_AUTH_TOKEN is set).
import { NextResponse, type NextRequest } from "next/server";
import { isAuthorized, unauthorizedResponse } from "@/server/auth";

export function proxy(request: NextRequest) {
  if (!isAuthorized(request.headers.get("authorization"))) return unauthorizedResponse();
  return NextResponse.next();
}

export const config = {
  matcher: ["/((?!_next/static|favicon.ico).*)"],
};
