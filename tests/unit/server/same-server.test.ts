/** Whether the warehouse shares the app database's server (its commits may then skip the disk flush). */
import { describe, expect, it } from "vitest";
import { sameServer } from "@/db/warehouse";

describe("sameServer", () => {
  it("compares host, port (5432 by default) and socket directory, never the database", () => {
    expect(sameServer("postgres://a@db.example:5432/app", "postgres://b:pw@DB.example/warehouse")).toBe(true);
    expect(sameServer("postgres://db.example:5433/app", "postgres://db.example:5432/wh")).toBe(false);
    expect(sameServer("postgres://db1/app", "postgres://db2/app")).toBe(false);
    expect(sameServer("postgres://u@localhost/app?host=/run/a", "postgres://u@localhost/wh?host=/run/b")).toBe(false);
    // Unsure (another spelling of the same host, or no URL at all): not the same.
    expect(sameServer("postgres://localhost/app", "postgres://127.0.0.1/wh")).toBe(false);
    expect(sameServer("not a url", "postgres://localhost/wh")).toBe(false);
  });
});
