import {describe, expect, inject, it} from "vitest";
import {runNativeTool, type NativeTarget} from "../../src/build/native.js";

/** The closing line of the native tests: "N passed, M failed". */
function summary(output: string): {passed: number, failed: number} {
    const match = /^(\d+) passed, (\d+) failed$/m.exec(output);
    if (match == null)
        throw new Error(`no summary line in the native test's output:\n${output.slice(-2000)}`);
    return {passed: Number(match[1]), failed: Number(match[2])};
}

// The op against its scalar reference and dense attention, on fresh random inputs each run
// (test-backend-ops style): the SIMD kernels of this CPU, and NEON under qemu-aarch64.
describe("SparQ ggml op (native)", () => {
    const tools = inject("nativeTools");
    const cases: Array<[NativeTarget, string, string[]]> = [
        ["host", tools.host, []],
        ["aarch64", tools.aarch64, ["--quick"]]
    ];

    it.each(cases)("agrees with the reference and with dense attention on %s", async (target, binDir, args) => {
        const seed = String(Date.now() % 1_000_000);
        const output = await runNativeTool(binDir, "test-sparq-attn", [seed, ...args], target);
        const {passed, failed} = summary(output);
        console.log(`${target}: seed ${seed}, ${passed} passed, ${failed} failed; ` +
            (output.match(/^.*max rel.*$/gim) ?? []).slice(-4).join(" | "));
        expect(failed).toBe(0);
        expect(passed).toBeGreaterThan(50);
    });
});

// The per-step update (running V sums, transposed K) against its definition and against the ops it
// replaces in decode graphs, bit for bit, on fresh random inputs each run.
describe("SparQ update op (native)", () => {
    const tools = inject("nativeTools");
    const cases: Array<[NativeTarget, string]> = [["host", tools.host], ["aarch64", tools.aarch64]];

    it.each(cases)("equals its definition and the ops it replaces on %s", async (target, binDir) => {
        const seed = String(Date.now() % 1_000_000);
        const output = await runNativeTool(binDir, "test-sparq-update", [seed], target);
        const {passed, failed} = summary(output);
        console.log(`${target}: seed ${seed}, ${passed} passed, ${failed} failed`);
        expect(failed).toBe(0);
        expect(passed).toBe(19);
    });
});
