/** The runner of each node kind. */
import type { NodeKind } from "@/server/pipeline";
import { TaskFailure } from "../errors";
import { runBranch } from "./branch";
import { runCheck } from "./check";
import type { NodeRunner } from "./context";
import { runJs } from "./js";
import { runNotify } from "./notify";
import { runSensor } from "./sensor";
import { runTableSink } from "./sink-table";
import { runCsvSource } from "./source-csv";
import { runHttpSource } from "./source-http";
import { runSql } from "./sql";

const unsupported =
  (what: string): NodeRunner =>
  async (ctx) => {
    throw new TaskFailure(`node '${ctx.node.name}': ${what} is not supported by this runtime yet`, false, "unsupported");
  };

export const NODE_RUNNERS: Record<NodeKind, NodeRunner> = {
  sql: runSql,
  js: runJs,
  "source.csv": runCsvSource,
  "source.http": runHttpSource,
  "source.query": unsupported("source.query (it needs connections)"),
  "sink.table": runTableSink,
  check: runCheck,
  branch: runBranch,
  sensor: runSensor,
  notify: runNotify,
  pipeline: unsupported("running another pipeline as a step"),
};
