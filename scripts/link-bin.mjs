// Links this package's own command into node_modules/.bin, so that
// `npx mqsim` in a clone runs the local build (npm links the bins of
// dependencies there, but not the root package's own).
import { chmodSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";

const binDir = join("node_modules", ".bin");
const link = join(binDir, "mqsim");
mkdirSync(binDir, { recursive: true });
rmSync(link, { force: true });
symlinkSync(join("..", "..", "bin", "mqsim.js"), link);
chmodSync(join("bin", "mqsim.js"), 0o755);
