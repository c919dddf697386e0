/** One line of `npm run bench`: our figure beside the limit/peer measured in the same run. */
export interface BenchResult {
  scenario: string;
  metric: string;
  ours: number;
  unit: string;
  /** the physical limit or peer measured in the same run, or the goal when there is no peer */
  reference?: number;
  referenceLabel?: string;
  /** human-readable goal, e.g. "≤ 1.5× raw" or "≥ 50% of ceiling" */
  goal?: string;
  /** whether the goal is met (undefined when there is no goal) */
  ok?: boolean;
  note?: string;
}

export interface Bench {
  name: string;
  description: string;
  run(): Promise<BenchResult[]>;
}
