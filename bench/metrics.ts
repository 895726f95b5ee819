/** One benchmark figure: `npm run bench -- --json` prints `{ name: { value, unit } }`. */
export type Metrics = Record<string, { value: number; unit: string }>;
