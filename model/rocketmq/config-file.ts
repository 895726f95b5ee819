import type { Disk } from "../../sim/disk.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Writes a JSON config file the way RocketMQ's MixAll.string2File does:
 * the new content to `name.tmp`, the old content to `name.bak`, delete the
 * file, rename the temporary over it. Nothing is fsynced, so a power loss
 * can take back any of these steps.
 */
export function writeConfigFile(disk: Disk, name: string, value: unknown): void {
  const tmp = `${name}.tmp`;
  const bak = `${name}.bak`;
  writeWhole(disk, tmp, encoder.encode(JSON.stringify(value)));
  if (disk.exists(name)) writeWhole(disk, bak, disk.readAll(name));
  disk.remove(name);
  disk.rename(tmp, name);
}

function writeWhole(disk: Disk, name: string, bytes: Uint8Array): void {
  if (disk.exists(name)) disk.truncate(name, 0);
  disk.write(name, 0, bytes);
}

/**
 * Loads a config file as ConfigManager.load does: the file, or if it is
 * missing or does not parse, its `.bak`. Returns null when neither works.
 */
export function readConfigFile<T>(disk: Disk, name: string): T | null {
  for (const candidate of [name, `${name}.bak`]) {
    if (!disk.exists(candidate)) continue;
    try {
      const text = decoder.decode(disk.readAll(candidate));
      if (text.length === 0) continue;
      return JSON.parse(text) as T;
    } catch {
      continue;
    }
  }
  return null;
}
