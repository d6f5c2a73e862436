/** TRIBUTARY_KEEP_RUNS: how many finished runs per pipeline keep their outputs. */
import { describe, expect, it } from "vitest";
import { DEFAULT_KEEP_RUNS, keepRunsSetting } from "@/server/runtime/retention";

describe("keepRunsSetting", () => {
  it("defaults to 20 when unset or blank", () => {
    expect(keepRunsSetting({})).toBe(DEFAULT_KEEP_RUNS);
    expect(DEFAULT_KEEP_RUNS).toBe(20);
    expect(keepRunsSetting({ TRIBUTARY_KEEP_RUNS: " " })).toBe(20);
  });

  it("reads a whole number, and 0 as keep everything", () => {
    expect(keepRunsSetting({ TRIBUTARY_KEEP_RUNS: "5" })).toBe(5);
    expect(keepRunsSetting({ TRIBUTARY_KEEP_RUNS: "0" })).toBeNull();
  });

  it.each(["-1", "2.5", "ten", "5 runs"])("refuses %j with a message naming the variable", (value) => {
    expect(() => keepRunsSetting({ TRIBUTARY_KEEP_RUNS: value })).toThrow(new RegExp(`^TRIBUTARY_KEEP_RUNS must be a whole number .* not '${value.replace(".", "\\.")}'$`));
  });
});
