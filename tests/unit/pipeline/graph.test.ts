import { describe, expect, it } from "vitest";
import { descendants, findCycles, topologicalOrder } from "@/server/pipeline/graph";
import { chain, generatePipeline } from "@/tests/fixtures/pipelines";

const ids = (...list: string[]) => list.map((id) => ({ id }));
const edge = (from: string, to: string) => ({ from, to });

describe("topologicalOrder", () => {
  it("puts every node after all of its upstream nodes", () => {
    const p = generatePipeline(500);
    const order = topologicalOrder(p.nodes, p.edges);
    expect(order).toHaveLength(500);
    expect(new Set(order).size).toBe(500);
    const at = new Map(order.map((id, i) => [id, i]));
    for (const e of p.edges) expect(at.get(e.from)!).toBeLessThan(at.get(e.to)!);
  });

  it("follows edges against the document order", () => {
    expect(topologicalOrder(ids("c", "b", "a"), [edge("a", "b"), edge("b", "c")])).toEqual(["a", "b", "c"]);
  });

  it("keeps the document order on ties", () => {
    expect(topologicalOrder(ids("z", "y", "x", "w"), [])).toEqual(["z", "y", "x", "w"]);
    // d depends on a; b and c are free: b, c come first as in the document, d as soon as a is done.
    expect(topologicalOrder(ids("d", "b", "a", "c"), [edge("a", "d")])).toEqual(["b", "a", "d", "c"]);
  });

  it("ignores edges to unknown ids", () => {
    expect(topologicalOrder(ids("a", "b"), [edge("a", "ghost"), edge("ghost", "b")])).toEqual(["a", "b"]);
  });

  it("throws on a cycle", () => {
    expect(() => topologicalOrder(ids("a", "b", "c"), [edge("a", "b"), edge("b", "c"), edge("c", "b")])).toThrow(/cycle/);
    expect(() => topologicalOrder(ids("a"), [edge("a", "a")])).toThrow(/cycle/);
  });

  it("orders a 10,000-node chain given in reverse", () => {
    const p = chain(10_000);
    const order = topologicalOrder([...p.nodes].reverse(), p.edges);
    expect(order[0]).toBe("s0");
    expect(order[9_999]).toBe("s9999");
  });
});

describe("findCycles", () => {
  it("finds nothing in a DAG", () => {
    const p = generatePipeline(300);
    expect(findCycles(p.nodes, p.edges)).toEqual([]);
  });

  it("finds a self-loop", () => {
    expect(findCycles(ids("a", "b"), [edge("a", "b"), edge("b", "b")])).toEqual([["b"]]);
  });

  it("finds two separate cycles, each as a closed path in order", () => {
    const cycles = findCycles(ids("a", "b", "c", "x", "y", "z"), [
      edge("a", "b"),
      edge("b", "c"),
      edge("c", "a"),
      edge("c", "x"),
      edge("x", "y"),
      edge("y", "x"),
      edge("y", "z"),
    ]);
    const sorted = cycles.sort((p, q) => p[0]!.localeCompare(q[0]!));
    expect(sorted).toEqual([
      ["a", "b", "c"],
      ["x", "y"],
    ]);
  });

  it("starts a cycle at its first node in document order", () => {
    expect(findCycles(ids("m", "k", "l"), [edge("k", "l"), edge("l", "m"), edge("m", "k")])).toEqual([["m", "k", "l"]]);
  });

  it("names a short closed path through a larger strongly connected part", () => {
    // a → b → a and a → c → d → a: one component, the path found is a real closed walk.
    const edges = [edge("a", "b"), edge("b", "a"), edge("a", "c"), edge("c", "d"), edge("d", "a")];
    const [cycle] = findCycles(ids("a", "b", "c", "d"), edges);
    expect(cycle).toEqual(["a", "b"]);
    const set = new Set(edges.map((e) => `${e.from}>${e.to}`));
    cycle!.forEach((id, i) => expect(set.has(`${id}>${cycle![(i + 1) % cycle!.length]}`)).toBe(true));
  });

  it("does not overflow the stack on a 10,000-node chain, with or without a cycle", () => {
    const p = chain(10_000);
    expect(findCycles(p.nodes, p.edges)).toEqual([]);
    const closed = [...p.edges, edge("s9999", "s0")];
    const cycles = findCycles(p.nodes, closed);
    expect(cycles).toHaveLength(1);
    expect(cycles[0]).toHaveLength(10_000);
    expect(cycles[0]![0]).toBe("s0");
    expect(cycles[0]![9_999]).toBe("s9999");
  });
});

describe("descendants", () => {
  const edges = [edge("a", "b"), edge("b", "c"), edge("a", "d"), edge("e", "c")];

  it("is every node reachable downstream, itself included", () => {
    expect([...descendants("a", edges)].sort()).toEqual(["a", "b", "c", "d"]);
    expect([...descendants("e", edges)].sort()).toEqual(["c", "e"]);
  });

  it("is only the node itself for a leaf or an unknown id", () => {
    expect([...descendants("c", edges)]).toEqual(["c"]);
    expect([...descendants("nope", edges)]).toEqual(["nope"]);
  });

  it("terminates on a cycle", () => {
    expect([...descendants("a", [edge("a", "b"), edge("b", "a"), edge("b", "c")])].sort()).toEqual(["a", "b", "c"]);
  });
});
