/**
 * A line diff of two texts (longest common subsequence), for comparing two
 * canonical pipeline files. Pure.
 *
 * 1. Strip the common head and tail (most edits touch a few lines).
 * 2. LCS table over the rest; when it would be too big, show the middle as
 *    all removed then all added (still correct, just less minimal).
 * 3. Walk the table into `same` / `removed` / `added` lines.
 */
export type DiffLine = { type: "same" | "removed" | "added"; text: string };

const MAX_CELLS = 4_000_000;

export function lineDiff(before: string, after: string): DiffLine[] {
  const a = before.split("\n");
  const b = after.split("\n");
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  const out: DiffLine[] = a.slice(0, head).map((text) => ({ type: "same", text }));

  if (x.length * y.length > MAX_CELLS) {
    for (const text of x) out.push({ type: "removed", text });
    for (const text of y) out.push({ type: "added", text });
  } else {
    const n = x.length;
    const m = y.length;
    const table = new Uint32Array((n + 1) * (m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        table[i * (m + 1) + j] = x[i] === y[j] ? table[(i + 1) * (m + 1) + j + 1]! + 1 : Math.max(table[(i + 1) * (m + 1) + j]!, table[i * (m + 1) + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (x[i] === y[j]) {
        out.push({ type: "same", text: x[i]! });
        i++;
        j++;
      } else if (table[(i + 1) * (m + 1) + j]! >= table[i * (m + 1) + j + 1]!) {
        out.push({ type: "removed", text: x[i++]! });
      } else {
        out.push({ type: "added", text: y[j++]! });
      }
    }
    while (i < n) out.push({ type: "removed", text: x[i++]! });
    while (j < m) out.push({ type: "added", text: y[j++]! });
  }
  for (const text of a.slice(a.length - tail)) out.push({ type: "same", text });
  return out;
}
