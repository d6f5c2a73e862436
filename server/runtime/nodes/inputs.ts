/** Picking the upstream table a one-input node (check, sink) reads. */
import { TaskFailure } from "../errors";
import type { NodeContext, UpstreamOutput } from "./context";

export function singleInput(ctx: NodeContext, input: string | undefined): UpstreamOutput {
  if (input) {
    const named = ctx.upstream.get(input);
    if (!named) throw new TaskFailure(`node '${ctx.node.name}': input '${input}' is not an upstream output`, false, "config");
    return named;
  }
  const all = [...ctx.upstream.values()];
  if (all.length !== 1) {
    throw new TaskFailure(
      `node '${ctx.node.name}': needs exactly one upstream table, or "input" naming one (upstream: ${all.map((u) => u.name).join(", ") || "none"})`,
      false,
      "config",
    );
  }
  return all[0]!;
}
