#!/usr/bin/env node
// The `tributary` command. It loads the TypeScript CLI through tsx in this
// process, and tells the code where the package lives (migrations, examples).
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { register } from "tsx/esm/api";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.env.TRIBUTARY_APP_ROOT ??= root;
register({ tsconfig: path.join(root, "tsconfig.json") });
const { main } = await import(pathToFileURL(path.join(root, "server", "cli.ts")).href);
process.exitCode = await main(process.argv.slice(2));
