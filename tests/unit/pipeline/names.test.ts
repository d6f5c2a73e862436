import { describe, expect, it } from "vitest";
import { NAME_MAX_LENGTH, RESERVED_SQL_WORDS, nameProblem, suggestName } from "@/server/pipeline/names";

describe("nameProblem", () => {
  it.each(["a", "pos_sales", "store_daily_2", "x1_", "selected", "user_id", "a".repeat(63)])("accepts %j", (name) => {
    expect(nameProblem(name)).toBeNull();
  });

  it("refuses an empty name", () => {
    expect(nameProblem("")).toBe("name must not be empty");
  });

  it("allows 63 characters and refuses 64, saying how long it is", () => {
    expect(NAME_MAX_LENGTH).toBe(63);
    expect(nameProblem("a".repeat(63))).toBeNull();
    const problem = nameProblem("a".repeat(64));
    expect(problem).toContain("64 characters");
    expect(problem).toContain("at most 63");
  });

  it.each([
    ["Daily Sales", "daily_sales"],
    ["daily-sales", "daily_sales"],
    ["PosSales", "possales"],
    ["2024_sales", "n_2024_sales"],
    ["_private", "private"],
    ["café_ventes", "cafe_ventes"],
  ])("refuses %j and suggests %j", (raw, hint) => {
    const problem = nameProblem(raw);
    expect(problem).toContain(`'${raw}'`);
    expect(problem).toContain("must start with a lower-case letter");
    expect(problem).toContain(`(try '${hint}')`);
  });

  it.each(["select", "from", "table", "user", "order", "group", "check"])("refuses the reserved word %j", (word) => {
    const problem = nameProblem(word);
    expect(problem).toContain("reserved SQL keyword");
    expect(problem).toContain(`'${word}_data'`);
  });

  it("names what it checks", () => {
    expect(nameProblem("Bad Name", "table name part")).toMatch(/^table name part 'Bad Name'/);
  });

  it("refuses unicode letters, even lower-case ones", () => {
    expect(nameProblem("ventes_é")).toContain("try 'ventes_e'");
    expect(nameProblem("продажи")).toContain("must start with a lower-case letter");
  });
});

describe("suggestName", () => {
  it("always returns a valid name", () => {
    const raws = ["Daily Sales", "SELECT", "  --  ", "", "123", "é", "продажи", "x".repeat(100), "a b ".repeat(40), "Über Größe", "order"];
    for (const raw of raws) {
      const hint = suggestName(raw);
      expect(nameProblem(hint), `${JSON.stringify(raw)} → ${JSON.stringify(hint)}`).toBeNull();
    }
  });

  it("folds accents and separators", () => {
    expect(suggestName("Über Größe")).toBe("uber_gro_e"); // ß has no ASCII decomposition
    expect(suggestName("Crème brûlée!!")).toBe("creme_brulee");
    expect(suggestName("a---b   c")).toBe("a_b_c");
  });

  it("prefixes a leading digit", () => {
    expect(suggestName("2024 sales")).toBe("n_2024_sales");
  });

  it("turns a reserved word into a usable one", () => {
    expect(suggestName("Select")).toBe("select_data");
    expect(RESERVED_SQL_WORDS.has(suggestName("TABLE"))).toBe(false);
  });

  it("cuts to 63 characters without a trailing underscore", () => {
    const hint = suggestName(`${"a".repeat(62)} b`);
    expect(hint.length).toBeLessThanOrEqual(63);
    expect(hint.endsWith("_")).toBe(false);
    expect(suggestName("x".repeat(100))).toBe("x".repeat(63));
  });

  it("keeps a valid name as it is", () => {
    expect(suggestName("pos_sales")).toBe("pos_sales");
  });
});
