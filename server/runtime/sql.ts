/** Raw SQL through drizzle on either driver: rows come back as an array. */
import type { SQL } from "drizzle-orm";
import type { Db } from "@/db/client";

export async function rowsOf<T>(db: Db, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown;
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}
