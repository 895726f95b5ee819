/**
 * Partition shapes as sets of directed edges to block. The network only
 * knows edges; these functions know shapes. Every shape Jepsen's nemeses use
 * is here: isolate one node, split into halves, a bridge (two halves joined
 * by one node), majorities-ring (every node sees a majority, no two see the
 * same one), and a one-way cut.
 */
export type Edge = readonly [string, string];

/** Blocks both directions between every member of `a` and every member of `b`. */
export function splitEdges(a: readonly string[], b: readonly string[]): Edge[] {
  const out: Edge[] = [];
  for (const x of a) {
    for (const y of b) {
      if (x === y) continue;
      out.push([x, y], [y, x]);
    }
  }
  return out;
}

export function isolateEdges(node: string, everyone: readonly string[]): Edge[] {
  return splitEdges([node], everyone.filter((n) => n !== node));
}

/** `bridge` is connected to both halves; the halves cannot talk to each other. */
export function bridgeEdges(left: readonly string[], right: readonly string[]): Edge[] {
  return splitEdges(left, right);
}

/**
 * Nodes in ring order; each sees itself and its nearest neighbours on both
 * sides, enough to see a majority. For five nodes each sees three, and the
 * five majorities are all different.
 */
export function majoritiesRingEdges(ring: readonly string[]): Edge[] {
  const n = ring.length;
  const majority = Math.floor(n / 2) + 1;
  const reach = Math.ceil((majority - 1) / 2);
  const out: Edge[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      const d = Math.min((i - j + n) % n, (j - i + n) % n);
      if (d > reach) out.push([ring[i]!, ring[j]!]);
    }
  }
  return out;
}

/** Packets from `from` to `to` are lost; the reverse direction still works. */
export function oneWayEdges(from: readonly string[], to: readonly string[]): Edge[] {
  const out: Edge[] = [];
  for (const x of from) for (const y of to) if (x !== y) out.push([x, y]);
  return out;
}

/** Who can reach whom under a set of blocked edges; for tests and the viewer. */
export function reachable(nodes: readonly string[], blocked: readonly Edge[]): Map<string, Set<string>> {
  const cut = new Set(blocked.map(([a, b]) => `${a}\u0000${b}`));
  const out = new Map<string, Set<string>>();
  for (const a of nodes) {
    const s = new Set<string>();
    for (const b of nodes) if (a === b || !cut.has(`${a}\u0000${b}`)) s.add(b);
    out.set(a, s);
  }
  return out;
}
