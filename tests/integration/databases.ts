/**
 * The databases the integration tests run on: embedded PGlite (in memory) and
 * a real Postgres server from TEST_DATABASE_URL, each test file on a fresh
 * database. Under CI=true a missing server is a failure, not a skip.
 */
import postgres from "postgres";
import { openDatabase, type DatabaseHandle } from "@/db/client";

export interface DbTarget {
  name: "pglite" | "postgres";
  open(): Promise<DatabaseHandle>;
}

const url = process.env.TEST_DATABASE_URL;
if (!url && process.env.CI === "true") {
  throw new Error("TEST_DATABASE_URL is not set, but CI=true: the Postgres integration tests must run on CI (bash .ci/run sets it)");
}
if (!url) {
  console.warn("TEST_DATABASE_URL is not set: integration tests run on PGlite only (bash .ci/run starts Postgres and sets it)");
}

/** An empty throwaway database on the server of TEST_DATABASE_URL (no migrations). */
export async function createTempDatabase(prefix: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = postgres(url!, { max: 1, onnotice: () => {} });
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const dbUrl = new URL(url!);
  dbUrl.pathname = `/${name}`;
  return {
    url: dbUrl.toString(),
    drop: async () => {
      const again = postgres(url!, { max: 1, onnotice: () => {} });
      try {
        await again.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await again.end({ timeout: 5 });
      }
    },
  };
}

/** A throwaway database on the server of TEST_DATABASE_URL, migrated; dropped on close. */
export async function openTempPostgres(prefix = "tributary_test"): Promise<DatabaseHandle & { url: string }> {
  const temp = await createTempDatabase(prefix);
  const handle = await openDatabase({ url: temp.url });
  return {
    ...handle,
    url: temp.url,
    close: async () => {
      await handle.close();
      await temp.drop();
    },
  };
}

export const targets: DbTarget[] = [
  { name: "pglite", open: () => openDatabase({ dataDir: "memory://" }) },
  ...(url ? [{ name: "postgres" as const, open: () => openTempPostgres() }] : []),
];
