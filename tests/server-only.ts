// Stand-in for the `server-only` package under vitest. The real package throws
// when imported outside Next's react-server condition, which tests never run in;
// vitest.config.ts aliases `server-only` to this empty module.
export {};
