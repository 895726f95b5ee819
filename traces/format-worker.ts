// The trace formatting thread: turns the records a TraceWriter hands over
// (traces/records.ts) into trace text and writes it. One writer at a time:
// an `attach` message names its shared memory and file descriptor; the
// thread serves it until the writer sets FIN, then answers DONE.
import { parentPort, workerData } from "node:worker_threads";
import { CTRL_DONE, CTRL_FIN, CTRL_SYMBOLS, type Attach } from "./writer.js";
import { RecordFormatter } from "./records.js";

parentPort!.on("message", (m: Attach) => {
  const data = new Uint8Array(m.data);
  const dv = new DataView(m.data);
  const ctrl = new Int32Array(m.ctrl);
  const formatter = new RecordFormatter(m.fd, new Uint8Array(m.symbols));
  let slot = 0;
  let result = 1;
  try {
    for (;;) {
      const len = Atomics.load(ctrl, slot);
      if (len === 0) {
        // The writer hands slots over in order and sets FIN after the last: an empty slot
        // after FIN (checked again, FIN being stored after the slot) means nothing is left.
        if (Atomics.load(ctrl, CTRL_FIN) === 1 && Atomics.load(ctrl, slot) === 0) break;
        Atomics.wait(ctrl, slot, 0, 50);
        continue;
      }
      formatter.readSymbols(Atomics.load(ctrl, CTRL_SYMBOLS));
      const start = slot * m.slotBytes;
      formatter.consume(data, dv, start, start + len);
      Atomics.store(ctrl, slot, 0);
      Atomics.notify(ctrl, slot);
      slot = (slot + 1) % m.slots;
    }
    formatter.flush();
  } catch {
    result = 2;
  }
  Atomics.store(ctrl, CTRL_DONE, result);
  Atomics.notify(ctrl, CTRL_DONE);
});

// Loaded and listening: writers may now hand their records here.
const ready = new Int32Array((workerData as { ready: SharedArrayBuffer }).ready);
Atomics.store(ready, 0, 1);
