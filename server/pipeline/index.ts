/**
 * The pipeline file format: schema, validation, graph order and canonical text.
 * Pure and free of I/O; the browser imports it too. (SQL analysis lives in
 * `./sql-references`, which only server code imports.)
 */
export * from "./schema";
export * from "./names";
export * from "./problems";
export * from "./graph";
export * from "./format";
export * from "./validate";
export * from "./canonical";
export * from "./defaults";
export type { SqlAnalyzer, SqlAnalysis, TableReference } from "./sql-references";
