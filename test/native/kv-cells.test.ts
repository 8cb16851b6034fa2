import {describe, expect, inject, it} from "vitest";
import {runNativeTool} from "../../src/build/native.js";

// The KQ mask reads no cell's sequence set when every used cell holds the sequence (patch 0012): the
// constant-time test for that case against a scan of all cells, after each of many random cell
// edits, on a fresh seed each run.
describe("KV cells: a sequence in every used cell (native)", () => {
    it("answers as a scan of the cells does, after every edit", async () => {
        const seed = String(Date.now() % 1_000_000);
        const output = await runNativeTool(inject("nativeTools").host, "test-kv-cells-seq", [seed]);
        const match = /^OK: (\d+) checks \((\d+) true, (\d+) false\)/m.exec(output);
        console.log(`seed ${seed}: ${match?.[0] ?? output.slice(-500)}`);
        expect(match).not.toBeNull();
        expect(Number(match![1])).toBe(320_000);
    });
});
