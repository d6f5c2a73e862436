/** sensor: wait until a SQL condition holds, polling every pollIntervalSeconds, until the node's timeout. */
import { DEFAULT_SENSOR_POLL_SECONDS } from "@/server/pipeline";
import { TaskFailure } from "../errors";
import { evaluateCondition } from "./branch";
import type { NodeRunner } from "./context";

export const runSensor: NodeRunner = async (ctx) => {
  if (ctx.node.kind !== "sensor") throw new Error("not a sensor node");
  if (ctx.node.config.connection) {
    throw new TaskFailure(`node '${ctx.node.name}': sensors on other connections are not supported yet; leave out 'connection' to check the warehouse`, false, "unsupported");
  }
  const poll = (ctx.node.config.pollIntervalSeconds ?? DEFAULT_SENSOR_POLL_SECONDS) * 1000;
  for (let checks = 1; ; checks++) {
    if (await evaluateCondition(ctx, ctx.node.config.condition)) {
      ctx.log("info", `condition holds after ${checks} check(s)`);
      return { result: {} };
    }
    ctx.log("info", `condition not yet true (check ${checks}); next check in ${poll / 1000} s`);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, poll);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      }, { once: true });
    });
  }
};
