// Whether the Next.js production build in .next/ matches the sources: a
// fingerprint of the size and mtime of every source file, saved after a build.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const SOURCE_DIRS = ["app", "components", "server", "db", "public"];
const SOURCE_FILES = ["package.json", "package-lock.json", "next.config.ts", "postcss.config.mjs", "tsconfig.json", "proxy.ts", "instrumentation.ts"];
const STAMP = path.join(".next", "tributary-build.json");

function* walk(dir) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(p);
    else yield p;
  }
}

/** A hash over the path, size and mtime of every file the build reads. */
export function sourceFingerprint(root = process.cwd()) {
  const hash = crypto.createHash("sha256");
  const files = [...SOURCE_DIRS.flatMap((d) => [...walk(path.join(root, d))]), ...SOURCE_FILES.map((f) => path.join(root, f))];
  for (const file of files) {
    try {
      const st = fs.statSync(file);
      hash.update(`${path.relative(root, file)}\0${st.size}\0${Math.floor(st.mtimeMs)}\n`);
    } catch {
      hash.update(`${file}\0missing\n`);
    }
  }
  return hash.digest("hex");
}

export function buildIsCurrent(root = process.cwd()) {
  if (!fs.existsSync(path.join(root, ".next", "BUILD_ID"))) return false;
  try {
    return JSON.parse(fs.readFileSync(path.join(root, STAMP), "utf8")).fingerprint === sourceFingerprint(root);
  } catch {
    return false;
  }
}

export function markBuilt(root = process.cwd()) {
  fs.writeFileSync(path.join(root, STAMP), JSON.stringify({ fingerprint: sourceFingerprint(root), at: new Date().toISOString() }));
}
