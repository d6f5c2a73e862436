// Tests that must run alone (they restart the shared Postgres server): scripts/test.mjs runs them after the others.
import { defineConfig } from "vitest/config";
import base from "./vitest.config";

export default defineConfig({ ...base, test: { ...base.test, include: ["tests/serial/**/*.test.ts"], fileParallelism: false } });
