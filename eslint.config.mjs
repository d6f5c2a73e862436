// Lint: typescript-eslint's recommended rules, plus the layer rules of
// docs/architecture.md — imports go one way (app → components → server/api →
// server/runtime → db), and server/pipeline imports none of them.
import tseslint from "typescript-eslint";

const layer = (name, patterns, extra = {}) => ({
  "@typescript-eslint/no-restricted-imports": [
    "error",
    {
      patterns: patterns.map((group) => ({
        group: [group],
        message: `${name} must not import this (see docs/architecture.md, "Layers")`,
        ...extra,
      })),
    },
  ],
});

const UP_FROM_DB = ["@/server/api/**", "@/server/runtime/**", "@/server/assistant/**", "@/components/**", "@/app/**", "**/server/api/**", "**/components/**"];

export default tseslint.config(
  { ignores: [".next/**", "node_modules/**", ".data/**", "test-results/**", "playwright-report/**", "next-env.d.ts", "db/migrations/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["server/pipeline/**/*.ts"],
    rules: layer("server/pipeline (pure, browser-safe)", [
      "@/db/**", "@/server/api/**", "@/server/runtime/**", "@/server/assistant/**", "@/components/**", "@/app/**",
      "**/db/**", "node:*", "fs", "path", "child_process", "react", "next", "next/**", "openai",
    ]),
  },
  { files: ["db/**/*.ts"], rules: layer("db/", UP_FROM_DB) },
  { files: ["server/runtime/**/*.ts"], rules: layer("server/runtime", ["@/server/api/**", "@/server/assistant/**", "@/components/**", "@/app/**", "**/components/**", "openai"]) },
  { files: ["server/assistant/**/*.ts"], rules: layer("server/assistant", ["@/server/api/**", "@/components/**", "@/app/**", "**/components/**"]) },
  { files: ["server/api/**/*.ts"], rules: layer("server/api", ["@/components/**", "@/app/**", "**/components/**"]) },
  {
    files: ["components/**/*.{ts,tsx}", "app/**/*.{ts,tsx}"],
    ignores: ["app/api/**"],
    rules: layer(
      "UI code",
      ["@/db/**", "**/db/**", "@/server/runtime/**", "@/server/api/**", "@/server/assistant/**", "@/server/pipeline/sql-references", "@/server/examples", "@/server/cli", "openai", "postgres", "@electric-sql/pglite", "drizzle-orm", "drizzle-orm/**"],
      { allowTypeImports: true },
    ),
  },
);
