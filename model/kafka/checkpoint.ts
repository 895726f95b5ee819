import type { Disk } from "../../sim/disk.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A checkpoint file in Kafka's text format (CheckpointFile): a version line,
 * an entry count, then one entry per line. Used for
 * `replication-offset-checkpoint` (high watermarks),
 * `recovery-point-offset-checkpoint` and each partition's
 * `leader-epoch-checkpoint`.
 *
 * Writing follows CheckpointFile.write: the new content goes to `name.tmp`,
 * which is fsynced, then renamed over `name` and the directory is synced.
 * The old file therefore stays intact until the new one is durable, and a
 * power loss leaves one or the other, never a mix. Writes of one file are
 * serialised: a write asked for while one is under way runs after it, with
 * the content current at that time.
 */
export class CheckpointFile {
  private writing = false;
  private pending: (() => string[]) | null = null;

  constructor(
    private readonly disk: Disk,
    readonly name: string,
    private readonly alive: () => boolean,
  ) {}

  /** Starts a write of the lines `content()` gives when the write begins. */
  write(content: () => string[]): void {
    if (this.writing) {
      this.pending = content;
      return;
    }
    this.writing = true;
    const lines = content();
    const text = `0\n${lines.length}\n${lines.map((l) => l + "\n").join("")}`;
    const tmp = `${this.name}.tmp`;
    if (this.disk.exists(tmp)) this.disk.truncate(tmp, 0);
    this.disk.write(tmp, 0, encoder.encode(text));
    this.disk.fsync(tmp, (r) => {
      if (!this.alive()) return;
      if (r.ok && this.disk.exists(tmp)) {
        this.disk.rename(tmp, this.name);
        this.disk.fsyncDir();
      }
      this.writing = false;
      const next = this.pending;
      this.pending = null;
      if (next !== null) this.write(next);
    });
  }

  /** The entry lines, or null if the file is missing or malformed. */
  read(): string[][] | null {
    if (!this.disk.exists(this.name)) return null;
    const text = decoder.decode(this.disk.readAll(this.name));
    const lines = text.split("\n");
    if (lines[0] !== "0") return null;
    const count = Number(lines[1]);
    if (!Number.isInteger(count) || count < 0 || lines.length < count + 3) return null;
    const out: string[][] = [];
    for (let i = 0; i < count; i++) out.push(lines[2 + i]!.split(" "));
    return out;
  }
}
