import fs from "node:fs/promises";
import path from "node:path";
import {afterAll, beforeAll, describe, expect, it} from "vitest";
import {
    benchPlotSpec, BenchSchemaError, formatBenchMarkdown, formatBenchTable, renderVegaLiteSvg, validateBenchResult,
    writeBenchReport, type BenchResult, type BenchRow
} from "../../src/bench/report.js";
import {makeTempDir} from "../helpers.js";

function row(ctx: number, mode: string, tps: number[], speedup: number | null): BenchRow {
    const mean = tps.reduce((a, b) => a + b, 0) / tps.length;
    const sparq = mode === "dense" ? null : {ratio: 4};
    return {
        ctx, mode, sparq, batch: 1,
        prefill: {tokens: ctx, seconds: ctx / 1000, tokensPerSecond: 1000},
        generation: {tokens: 8, tokensPerSecond: {mean, sd: tps.length > 1 ? 1 : null, perRound: tps}},
        speedupVsDense: speedup,
        attention: {meanPositions: ctx + 4.5, denseBytesPerToken: 2_000_000, bytesPerToken: mode === "dense" ? 2_000_000 : 700_000},
        idealSpeedup: mode === "dense" ? 1 : 1.5,
        fractionOfIdeal: speedup == null ? null : speedup / (mode === "dense" ? 1 : 1.5),
        sparqOps: sparq == null ? null : {
            decodeSteps: 8 * tps.length,
            layers: [{layer: 0, enabled: false, opCount: 0}, {layer: 1, enabled: true, r: 4, k: 32, l: 8, opCount: 8 * tps.length}]
        }
    };
}

/** A well-formed result: 2 depths x (dense, sparq:4), 2 rounds. */
function sample(): BenchResult {
    return {
        schemaVersion: 1,
        createdAt: "2026-11-24T00:00:00.000Z",
        model: {
            path: "/tmp/tiny.gguf", name: "tiny", fileSize: 9_000_000, architecture: "llama", layerCount: 2, headCount: 4,
            kvHeadCount: 2, headDim: 16, trainContextSize: 2048, weightBytesPerToken: 4_000_000
        },
        system: {
            backend: "cpu", threads: 2, sparqVersion: "1", llamaCpp: "b1234", cpu: "Some CPU", cpuCount: 2,
            loadAverage: {before: [0.5, 1, 1.5], after: [1, 1, 1]}, node: "v20.0.0"
        },
        settings: {
            contexts: [256, 512], modes: ["dense", "sparq:4"], batch: 1, repeat: 2, tokens: 8, warmupTokens: 2, seed: 0,
            kvType: "f16", flashAttention: true, layers: null
        },
        results: [
            row(256, "dense", [100, 102], 1), row(256, "sparq:4", [110, 112], 1.1),
            row(512, "dense", [90, 92], 1), row(512, "sparq:4", [120, 122], 1.33)
        ]
    };
}

function schemaError(mutate: (result: BenchResult) => void): string {
    const result = sample();
    mutate(result);
    try {
        validateBenchResult(JSON.parse(JSON.stringify(result)));
    } catch (err) {
        if (err instanceof BenchSchemaError)
            return err.message;
        throw err;
    }
    throw new Error("the result was accepted");
}

describe("bench.json schema", () => {
    it("accepts a well-formed result, also after a JSON round trip", () => {
        expect(validateBenchResult(JSON.parse(JSON.stringify(sample())))).toEqual(sample());
    });

    it.each<[string, (result: BenchResult) => void, RegExp]>([
        ["a missing field", (r) => delete (r.model as Partial<BenchResult["model"]>).headDim, /^\$\.model\.headDim: expected an integer >= 1, got undefined/],
        ["an unknown field", (r) => Object.assign(r.system, {gpuName: "x"}), /^\$\.system: unexpected field gpuName/],
        ["a wrong version", (r) => Object.assign(r, {schemaVersion: 2}), /^\$\.schemaVersion: expected 1/],
        ["a bad date", (r) => Object.assign(r, {createdAt: "yesterday"}), /createdAt: expected an ISO date/],
        ["a zero speed", (r) => r.results[1]!.generation.tokensPerSecond.perRound.splice(0, 1, 0), /results\[1\]\.generation\.tokensPerSecond\.perRound\[0\]: expected a number > 0/],
        ["a NaN", (r) => Object.assign(r.results[0]!, {idealSpeedup: NaN}), /results\[0\]\.idealSpeedup: expected a finite number, got null/],
        ["a missing row", (r) => r.results.pop(), /^\$\.results: expected one row per depth and mode/],
        ["rows out of order", (r) => r.results.reverse(), /^\$\.results: expected one row per depth and mode/],
        ["too few rounds", (r) => r.results[2]!.generation.tokensPerSecond.perRound.pop(), /results\[2\].*expected 2 rounds, got 1/],
        ["op counts missing for SparQ", (r) => Object.assign(r.results[1]!, {sparqOps: null}), /results\[1\]\.sparqOps: must be present exactly for SparQ modes/],
        ["settings on a dense row", (r) => Object.assign(r.results[0]!, {sparq: {ratio: 8}}), /results\[0\]\.sparq: must be null exactly when the mode is dense/],
        ["the wrong layer count", (r) => r.results[3]!.sparqOps!.layers.pop(), /results\[3\]\.sparqOps\.layers: expected 2 layers, got 1/],
        ["a load average of two values", (r) => r.system.loadAverage.after.pop(), /loadAverage\.after: expected 3 items/],
        ["a fractional settle step count", (r) => Object.assign(r.settings, {settleSteps: 1.5}), /settings\.settleSteps: expected an integer/]
    ])("rejects %s, naming the path", (_, mutate, message) => {
        expect(schemaError(mutate)).toMatch(message);
    });
});

describe("bench.md", () => {
    it("has a llama-bench-like row per depth and mode", () => {
        const table = formatBenchTable(sample()).split("\n");
        expect(table[0]).toBe("| model | backend | threads | ctx | mode | pp t/s | tg t/s | speed-up | attn MB/tok | ideal | % of ideal |");
        expect(table).toHaveLength(2 + 4);
        expect(table[3]).toBe("| tiny | cpu | 2 | 256 | sparq:4 | 1000.0 | 111.00 ± 1.00 | 1.10x | 0.700 | 1.50x | 73% |");
        expect(table[4]).toBe("| tiny | cpu | 2 | 512 | dense | 1000.0 | 91.00 ± 1.00 | 1.00x | 2.00 | 1.00x | 100% |");
        const markdown = formatBenchMarkdown(sample());
        expect(markdown).toContain("Load average (1, 5, 15 min): 0.50, 1.00, 1.50 before, 1.00, 1.00, 1.00 after.");
        expect(markdown).toContain("W = 4.00 MB of weights read per token");
    });

    it("says how many untimed steps preceded each timed run, where the result records it", () => {
        const earlier = formatBenchMarkdown(sample());
        expect(earlier).toContain("(mode order rotated each round, 2 warm-up tokens per mode first), batch 1");
        const result = sample();
        result.settings.settleSteps = 2;
        expect(validateBenchResult(JSON.parse(JSON.stringify(result)))).toEqual(result);
        expect(formatBenchMarkdown(result)).toContain(
            "(mode order rotated each round, 2 warm-up tokens per mode first, each run timed after 2 untimed steps), batch 1");
    });

    it("shows a single round without ± and a missing dense baseline as —", () => {
        const result = sample();
        result.results[1] = {...result.results[1]!, speedupVsDense: null, fractionOfIdeal: null,
            generation: {tokens: 8, tokensPerSecond: {mean: 110, sd: null, perRound: [110]}}};
        expect(formatBenchTable(result).split("\n")[3]).toBe("| tiny | cpu | 2 | 256 | sparq:4 | 1000.0 | 110.00 | — | 0.700 | 1.50x | — |");
    });
});

describe("bench.svg", () => {
    let temp: Awaited<ReturnType<typeof makeTempDir>>;
    beforeAll(async () => {
        temp = await makeTempDir("bench-report");
    });
    afterAll(() => temp.cleanup());

    it("plots tokens/sec against ctx, one series per mode", async () => {
        const spec = benchPlotSpec(sample());
        expect((spec.data as {values: unknown[]}).values).toContainEqual({ctx: 512, mode: "sparq:4", tps: 121, low: 120, high: 122});
        const svg = await renderVegaLiteSvg(spec);
        expect(svg).not.toBeNull();
        expect(svg!).toMatch(/^<svg /);
        for (const text of ["sparq:4", "dense", "tokens/sec", "tiny: generation speed"])
            expect(svg!).toContain(text);
    });

    it("writes the four files, refusing an invalid result", async () => {
        const files = await writeBenchReport(sample(), path.join(temp.dir, "out"));
        expect(validateBenchResult(JSON.parse(await fs.readFile(files.json, "utf8")))).toEqual(sample());
        expect(await fs.readFile(files.markdown, "utf8")).toContain("| tiny | cpu | 2 | 512 | sparq:4 |");
        expect(JSON.parse(await fs.readFile(files.spec, "utf8")).$schema).toMatch(/vega-lite/);
        expect(await fs.readFile(files.svg!, "utf8")).toMatch(/^<svg /);

        const bad = sample();
        bad.results.pop();
        await expect(writeBenchReport(bad, path.join(temp.dir, "bad"))).rejects.toThrow(BenchSchemaError);
    });
});
