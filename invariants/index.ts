// Public API of invariants/: the history format, the checkers and judgement.
export * from "./history.js";
export * from "./anomaly.js";
export { analyze, mustHaveCommitted, type Analysis, type SendRecord, type PollRecord } from "./analysis.js";
export { checkAll } from "./check.js";
export { judge, ExpectSchema, VerdictSchema, JudgementSchema, type Expect, type Verdict, type Judgement } from "./judge.js";
export * from "./checkers/index.js";
