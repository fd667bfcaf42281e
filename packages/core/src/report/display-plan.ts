// A Plan that displays as HTML tables in Jupyter and as the `sft plan` summary in a console.
import pc from "picocolors";
import type { Plan } from "../compile/plan-schema.ts";
import { attachDisplay, type Displayable } from "./display.ts";
import { planHtml } from "./plan-html.ts";
import { formatPlanSummary } from "./plan-summary.ts";

const plain = pc.createColors(false);

/** The same plan object with non-enumerable display methods; its JSON is unchanged. */
export function displayable<P extends Plan>(plan: P): P & Displayable {
  return attachDisplay(
    plan,
    () => planHtml(plan),
    () => formatPlanSummary(plan, plain),
  );
}
