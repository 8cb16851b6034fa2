import fs from "node:fs/promises";
import path from "node:path";
import {afterAll, beforeAll, describe, expect, it} from "vitest";
import {createCli} from "../../src/cli/index.js";
import {getSparqLlama} from "../../src/load.js";
import {createSparqContext} from "../../src/sparq/context.js";
import {tokenizePrefix, withBos} from "../../src/eval/data.js";
import {decodeLogits} from "../../src/eval/logits.js";
import {logProbability, perplexity} from "../../src/eval/metrics.js";
import type {NeedleResult} from "../../src/eval/needle.js";
import type {PerplexityResult} from "../../src/eval/perplexity.js";
import type {QaResult} from "../../src/eval/qa.js";
import type {RepeatResult} from "../../src/eval/repeat.js";
import type {EvalReport} from "../../src/eval/report.js";
import {makeTempDir, sharedDir, stories260K} from "../helpers.js";

const wikitext = path.join(sharedDir, "data", "wikitext-2-raw-test.txt");
const squadFixture = path.join(import.meta.dirname, "fixtures", "squad-tiny.json");

/** Runs `sparq eval ...` in-process, its tables captured instead of printed. */
async function runCli(argv: string[]): Promise<void> {
    const write = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
        await createCli(["eval", ...argv, "--quiet"]).exitProcess(false).parseAsync();
    } finally {
        process.stdout.write = write;
    }
}

async function failure(argv: string[]): Promise<string> {
    try {
        await createCli(["eval", ...argv]).exitProcess(false).parseAsync();
    } catch (err) {
        return (err as Error).message;
    }
    return "the command succeeded";
}

async function readReport<T>(file: string): Promise<EvalReport & {results: T}> {
    return JSON.parse(await fs.readFile(file, "utf8"));
}

describe("sparq eval, end to end on the real TinyStories model", () => {
    let temp: Awaited<ReturnType<typeof makeTempDir>>;
    beforeAll(async () => {
        temp = await makeTempDir("eval");
    });
    afterAll(() => temp.cleanup());

    it("perplexity: dense and ratio:4 on a WikiText slice, with the table, JSON and plot", async () => {
        await runCli(["perplexity", "-m", stories260K, "--text", wikitext, "--ctx", "128", "--prefill", "32", "--windows", "2",
            "--settings", "dense,ratio:4", "--out", temp.dir]);
        for (const file of ["perplexity.json", "perplexity.md", "perplexity.vl.json"])
            expect((await fs.stat(path.join(temp.dir, file))).size).toBeGreaterThan(100);
        const report = await readReport<PerplexityResult>(path.join(temp.dir, "perplexity.json"));
        const [dense, sparq] = report.results.settings;
        expect(report.results.windowsRun).toBe(2);
        expect(dense!.label).toBe("dense");
        expect(Number.isFinite(dense!.ppl) && dense!.ppl > 1).toBe(true);
        expect(dense!.scoredTokens).toBe(2 * 96);
        expect(dense!.transferFraction).toBe(1);
        expect(dense!.sparqOpSteps).toBe(0);
        // ratio:4 ran the SparQ op in every decode step and moves less than dense
        expect(sparq!.sparqOpSteps).toBe(2 * 95);
        // head dim 8: r = 2, k = max(32, 256/8) = 32 at every step (S = 33..127, view 256), moving (2 S + 2*32*8 + 32) / (16 S + 16)
        const steps = Array.from({length: 95}, (_, i) => 33 + i);
        const expected = steps.reduce((sum, S) => sum + (2 * S + 512 + 32) / (16 * S + 16), 0) / steps.length;
        expect(sparq!.transferFraction).toBeCloseTo(expected, 9);
        expect(sparq!.deltaPercent).toBeCloseTo((sparq!.ppl / dense!.ppl - 1) * 100, 6);
        const markdown = await fs.readFile(path.join(temp.dir, "perplexity.md"), "utf8");
        expect(markdown).toMatch(/\| setting +\| PPL +\| Δ vs dense/);
        expect(markdown).toContain(`| ratio:4 `);
        expect(report.plot.points.map((p) => [p.label, p.series])).toEqual([["dense", "SparQ, mean realloc on"], ["ratio:4", "SparQ, mean realloc on"]]);

        // --layers 2-: layers 0 and 1 of 5 stay dense, so each step moves (3 sparse + 2) / 5
        await runCli(["perplexity", "-m", stories260K, "--text", wikitext, "--ctx", "128", "--prefill", "32", "--windows", "2",
            "--settings", "dense,ratio:4", "--layers", "2-", "--out", temp.dir, "--name", "perplexity-layers"]);
        const layered = (await readReport<PerplexityResult>(path.join(temp.dir, "perplexity-layers.json"))).results.settings[1]!;
        expect(layered.sparq).toEqual({ratio: 4, meanRealloc: true, denseBelow: 0, layers: "2-"});
        expect(layered.sparqOpSteps).toBe(2 * 95);
        expect(layered.transferFraction).toBeCloseTo((3 * expected + 2) / 5, 9);
        expect(layered.windows[0]!.ppl).not.toBe(sparq!.windows[0]!.ppl);

        // the first window's dense PPL, recomputed from full logits
        const llama = await getSparqLlama({build: "never"});
        try {
            const model = await llama.loadModel({modelPath: stories260K});
            const context = await createSparqContext(model, {contextSize: 128});
            const text = await fs.readFile(wikitext, "utf8");
            const tokens = withBos(model, tokenizePrefix(model, text, 127));
            const logits = await decodeLogits(context, tokens, 32);
            const logProbs = tokens.slice(32).map((token, i) => logProbability(logits[i]!, token));
            expect(dense!.windows[0]!.ppl).toBeCloseTo(perplexity(logProbs), 3);
            await model.dispose();
        } finally {
            await llama.dispose();
        }
    });

    it("needle: one prompt per cell, scored for every setting", async () => {
        await runCli(["needle", "-m", stories260K, "--ctx", "256,512", "--depths", "0,1", "--trials", "1", "--settings", "dense,ratio:8",
            "--out", temp.dir]);
        const report = await readReport<NeedleResult>(path.join(temp.dir, "needle.json"));
        const [dense, sparq] = report.results.settings;
        expect(dense!.cells.map((c) => [c.contextSize, c.depth, c.trials])).toEqual([[256, 0, 1], [256, 1, 1], [512, 0, 1], [512, 1, 1]]);
        expect(report.results.keys).toHaveLength(4);
        expect(report.results.keys.every((k) => /^\d{5}$/.test(k))).toBe(true);
        expect(sparq!.transferByContext["512"]).toBeLessThan(sparq!.transferByContext["256"]!);
        expect(dense!.decodeSteps).toBeGreaterThan(4 * 10);
        expect(report.tables[1]!.rows).toHaveLength(4);
    });

    it("qa: 1-shot questions of a SQuAD-format file, and the long-context padding", async () => {
        await runCli(["qa", "-m", stories260K, "--data", squadFixture, "--settings", "dense,ratio:4", "--out", temp.dir]);
        const report = await readReport<QaResult>(path.join(temp.dir, "qa.json"));
        // the first question is the worked example; the other paragraphs' 4 questions are scored
        expect(report.results.example).toEqual({question: "What color was Lily's ball?", answer: "red"});
        expect(report.results.items.map((it) => it.id)).toEqual(["q3", "q4", "q5", "q6"]);
        expect(report.results.settings[0]!.exactMatch).toBeGreaterThanOrEqual(0);
        expect(report.results.settings[0]!.f1).toBeLessThanOrEqual(100);

        await runCli(["qa", "-m", stories260K, "--data", squadFixture, "--settings", "dense", "--long-context", "400", "--questions", "2",
            "--out", temp.dir, "--name", "qa-long"]);
        const long = await readReport<QaResult>(path.join(temp.dir, "qa-long.json"));
        expect(long.results.items).toHaveLength(2);
        const short = report.results.items.slice(0, 2).map((it) => it.promptTokens);
        long.results.items.forEach((it, i) => {
            expect(it.promptTokens).toBeGreaterThan(short[i]!);
            // the fixture has only two paragraphs to pad with: both fit in 400 tokens
            expect(it.promptTokens).toBeGreaterThan(short[i]! + 40);
            expect(it.promptTokens).toBeLessThanOrEqual(400 - 24);
        });
    });

    it("repeat: passages repeated from a cue, scored by exact-match length", async () => {
        await runCli(["repeat", "-m", stories260K, "--text", wikitext, "--samples", "2", "--passage", "96", "--cue", "8", "--tokens", "16",
            "--settings", "dense,ratio:2", "--out", temp.dir]);
        const report = await readReport<RepeatResult>(path.join(temp.dir, "repeat.json"));
        expect(report.results.samples.map((s) => s.start)).toEqual([0, 96]);
        for (const [i, setting] of report.results.settings.entries()) {
            for (const sample of report.results.samples) {
                expect(sample.matchedTokens[i]).toBeGreaterThanOrEqual(0);
                expect(sample.matchedTokens[i]).toBeLessThanOrEqual(16);
            }
            expect(setting.decodeSteps).toBeGreaterThanOrEqual(2 * 9);
        }
    });

    it("rejects bad flags by name before loading anything", async () => {
        expect(await failure(["perplexity", "--text", wikitext, "--settings", "dense,ratio:0"])).toMatch(/"ratio:0": the ratio must be a number >= 1/);
        expect(await failure(["perplexity", "-m", stories260K, "--text", wikitext, "--ctx", "128", "--prefill", "128"]))
            .toMatch(/--prefill must be an integer in \[1, 127\]/);
        expect(await failure(["needle", "--depths", "0,1.5"])).toMatch(/--depths: "1.5" is not a number in \[0, 1\]/);
        expect(await failure(["needle", "--ctx", "512,512"])).toMatch(/--ctx "512,512" names 512 twice/);
        expect(await failure(["perplexity", "-m", stories260K, "--text", "/nonexistent.txt"])).toMatch(/text file not found: \/nonexistent.txt/);
        expect(await failure(["perplexity", "-m", stories260K, "--text", wikitext, "--ctx", "128", "--prefill", "32", "--settings", "r16k8"])).toMatch(/"r16k8": .*out of range \[1, 8\]/);
        expect(await failure([])).toMatch(/name a task/);
    });
});
