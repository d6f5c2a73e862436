import type { NextConfig } from "next";

const config: NextConfig = {
  // PGlite ships WASM and data files that the bundler must not touch; libpg-query likewise.
  serverExternalPackages: ["@electric-sql/pglite", "libpg-query"],
  poweredByHeader: false,
  reactStrictMode: true,
};

export default config;
