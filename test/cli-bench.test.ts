import fs from "node:fs/promises";
import path from "node:path";
import {afterAll, beforeAll, describe, expect, it, vi} from "vitest";
import {LlamaLogLevel, readGgufFileInfo, type Llama} from "node-llama-cpp";
import {validateBenchResult} from "../src/bench/report.js";
import {createCli} from "../src/cli/index.js";
import {generate} from "../src/generate.js";
import {getSparqLlama} from "../src/load.js";
import {synthesizeModel} from "../src/models/synthesize.js";
import {cliFailure as failure, makeTempDir} from "./helpers.js";

/** Runs the CLI in-process, capturing what it writes to stdout and stderr. */
async function run(argv: string[]): Promise<{stdout: string, stderr: string}> {
    let stdout = "";
    let stderr = "";
    const log = vi.spyOn(console, "log").mockImplementation((...items: unknown[]) => {
        stdout += `${items.join(" ")}\n`;
    });
    const error = vi.spyOn(console, "error").mockImplementation((...items: unknown[]) => {
        stderr += `${items.join(" ")}\n`;
    });
    const write = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
        stderr += String(chunk);
        return true;
    });
    try {
        await createCli(argv).exitProcess(false).parseAsync();
    } finally {
        log.mockRestore();
        error.mockRestore();
        write.mockRestore();
    }
    return {stdout, stderr};
}

let temp: Awaited<ReturnType<typeof makeTempDir>>;
let tiny: string;
beforeAll(async () => {
    temp = await makeTempDir("cli-bench");
    tiny = path.join(temp.dir, "tiny.gguf");
    // tiny-llama: 2 layers, 4/2 heads of 16, training context 2048
    await synthesizeModel({architecture: "tiny-llama", outputPath: tiny});
});
afterAll(() => temp.cleanup());

describe("sparq bench: flag validation", () => {
    it.each<[string, string[], RegExp]>([
        ["an unknown mode", ["--modes", "dense,fast"], /--modes: unknown mode "fast": use dense, sparq:RATIO/],
        ["a bad SparQ ratio", ["--modes", "sparq:0.5"], /mode "sparq:0.5": the ratio must be >= 1/],
        ["a repeated mode", ["--modes", "dense,dense"], /--modes names dense twice/],
        ["a bad ctx", ["--ctx", "1q"], /--ctx "1q" is not a token count \(e.g. 512, 1k, 16k\)/],
        ["a tiny ctx", ["--ctx", "8"], /--ctx 8 is too small: at least 16 tokens/],
        ["repeat < 1", ["--repeat", "0"], /--repeat must be an integer >= 1, got 0/],
        ["a fractional repeat", ["--repeat", "1.5"], /--repeat must be an integer >= 1, got 1.5/],
        ["tg < 1", ["--tg", "0"], /--tg must be an integer >= 1, got 0/],
        ["bad threads", ["--threads", "0"], /--threads must be a positive integer/],
        ["a bad batch", ["--batch", "1,x"], /--batch "1,x": "x" is not a positive integer/],
        ["an unknown backend", ["--gpu", "metal"], /unknown --gpu value "metal"/],
        ["--gpus on the CPU", ["--gpus", "2"], /--gpus needs --gpu cuda/],
        ["a bad GPU count", ["--gpu", "cuda", "--gpus", "0"], /--gpus must be an integer >= 1, got 0/],
        ["--gpus with --rpc", ["--gpu", "cuda", "--gpus", "2", "--rpc", "127.0.0.1:50052"], /give --gpus or --rpc, not both/],
        ["a bad --dense-below", ["--dense-below", "lots"], /--dense-below "lots" is not a token count/],
        ["a bad RPC endpoint", ["--rpc", "127.0.0.1:50052,nowhere"], /"nowhere" is not a host:port RPC endpoint/],
        ["an unknown flag", ["--turbo"], /Unknown argument/i]
    ])("rejects %s", async (_, flags, message) => {
        expect((await failure(["bench", "-m", tiny, ...flags])).message).toMatch(message);
    });

    it("rejects a ctx beyond the model's training context, naming both", async () => {
        expect((await failure(["bench", "-m", tiny, "--ctx", "1k,4k", "--tg", "8"])).message)
            .toBe("--ctx 4096: 4096 + 8 generated tokens exceed the training context of tiny (2048 tokens)");
        // depth + generated tokens must fit, not only the depth
        expect((await failure(["bench", "-m", tiny, "--ctx", "2k", "--tg", "1"])).message).toMatch(/--ctx 2048: 2048 \+ 1 generated tokens exceed/);
    });

    it("rejects SparQ settings the model can't take before loading it", async () => {
        expect((await failure(["bench", "-m", tiny, "--ctx", "256", "--modes", "dense,sparq:32,64"])).message)
            .toMatch(/--modes sparq:32,64: SparQ setting "r": 32 is out of range \[1, 16\].*tiny has 2 layers of head size 16/);
        expect((await failure(["bench", "-m", tiny, "--ctx", "256", "--modes", "sparq:4", "--layers", "5-"])).message)
            .toMatch(/SparQ setting "layers": layer 5 does not exist/);
    });

    it("reports a missing model file", async () => {
        expect((await failure(["bench", "-m", path.join(temp.dir, "none.gguf"), "--ctx", "256"])).message).toMatch(/model file not found/);
    });
});

describe("sparq models synth", () => {
    it.each<[string, string[], RegExp]>([
        ["an unknown shape", ["--arch", "llama9-1t", "--out", "x.gguf"], /--arch "llama9-1t" is not a known shape: tiny-llama, smollm2-135m/],
        ["an unknown type", ["--arch", "tiny-llama", "--type", "q2_k", "--out", "x.gguf"], /--type "q2_k" is not one of f16, q8_0, q4_0, f32/],
        ["bad layers", ["--arch", "tiny-llama", "--layers", "0", "--out", "x.gguf"], /--layers must be a positive integer, got 0/],
        ["a bad context length", ["--arch", "tiny-llama", "--context-length", "1k", "--out", "x.gguf"], /--context-length must be an integer >= 16, got NaN/],
        ["no --out", ["--arch", "tiny-llama"], /Missing required argument: out/],
        ["no subcommand", [], /name a models command/]
    ])("rejects %s", async (_, flags, message) => {
        expect((await failure(["models", ...(flags.length === 0 ? [] : ["synth", ...flags])])).message).toMatch(message);
    });

    it("writes a random-weight model of the shape asked for and says so", async () => {
        const out = path.join(temp.dir, "synth", "tiny-q8.gguf");
        const {stdout, stderr} = await run(["models", "synth", "--arch", "tiny-llama", "--type", "q8_0", "--layers", "3", "--seed", "5",
            "--context-length", "4096", "--out", out]);
        expect(stderr).toMatch(/RANDOM WEIGHTS/);
        expect(stdout).toMatch(/wrote .*tiny-q8\.gguf: tiny-llama shape \(3 layers, 4\/2 heads of 16, context 4096\), q8_0/);
        expect(stdout).toMatch(/random weights: for speed benchmarks/);
        const info = await readGgufFileInfo(out, {logWarnings: false});
        expect(info.architectureMetadata).toMatchObject({block_count: 3, context_length: 4096});
        expect(info.tensorInfo?.find((tensor) => tensor.name === "blk.0.attn_q.weight")?.ggmlType).toBe(8); // q8_0
    });
});

describe("sparq generate --sparq", () => {
    it.each<[string, string[], RegExp]>([
        ["a bad spec", ["--sparq", "fast"], /--sparq "fast": it is not a ratio/],
        ["a ratio < 1", ["--sparq", "0.5"], /--sparq "0.5": the ratio must be >= 1/],
        ["--layers alone", ["--layers", "2-"], /--layers chooses the layers of --sparq: give --sparq too/]
    ])("rejects %s", async (_, flags, message) => {
        expect((await failure(["generate", "-m", tiny, ...flags])).message).toMatch(message);
    });

    describe("runs SparQ and reports it", () => {
        let llama: Llama;
        beforeAll(async () => {
            llama = await getSparqLlama({build: "never", logLevel: LlamaLogLevel.error});
        });
        afterAll(() => llama.dispose());

        it("generate() applies the settings and returns each layer's state", async () => {
            // a prompt longer than k (max(kMin = 32, S/8)) so that the op has something to skip
            const prompt = "Once upon a time there was a little robot who lived in a quiet town by the sea. ".repeat(4);
            const result = await generate(llama, {
                modelPath: tiny, prompt, maxTokens: 6, contextSize: 512, threads: 2, sparq: {ratio: 4, layers: "1-"}
            });
            expect(result.tokens.length).toBeGreaterThan(1);
            const [layer0, layer1] = result.sparq!.layers;
            expect(result.sparq!.settings).toEqual({ratio: 4, layers: "1-"});
            expect(layer0).toMatchObject({enabled: false, opCount: 0});
            // r = d/4 = 4, k = max(32, 256/8) at the KV view of 256, l = k/4
            expect(layer1).toMatchObject({enabled: true, r: 4, k: 32, l: 8});
            expect(layer1!.opCount).toBeGreaterThanOrEqual(result.tokens.length - 1);
        });

        it("the command prints the settings and op counts", async () => {
            const {stderr} = await run(["generate", "-m", tiny, "-n", "4", "--ctx", "256", "--threads", "2", "--sparq", "16,64", "--layers", "0"]);
            expect(stderr).toMatch(/tokens\/s .*SparQ: r = 16, k = 64, layers 0; 1\/2 layers at r=16 k=64 l=16 \(KV length 256\); SparQ op ran in \d+ decode steps per layer/);
        });

        it("the command keeps steps below --dense-below dense and says so", async () => {
            const {stderr} = await run(["generate", "-m", tiny, "-n", "4", "--ctx", "256", "--threads", "2", "--sparq", "16,64", "--dense-below", "1k"]);
            expect(stderr).toMatch(/SparQ op ran in 0 decode steps per layer \(0 layer-steps in all\); dense attention below KV length 1024/);
        });
    });
});

describe("sparq bench end to end (tiny-llama)", () => {
    it("measures dense and SparQ, proves SparQ ran, and writes bench.json, bench.md and bench.svg", async () => {
        const out = path.join(temp.dir, "bench-out");
        const {stdout, stderr} = await run([
            "bench", "-m", tiny, "--ctx", "256,512", "--tg", "8", "--repeat", "1", "--modes", "dense,sparq:4",
            "--threads", "2", "--out", out
        ]);
        expect(stderr).toMatch(/sparq bench: ctx 256: prefill [\d.]+ t\/s/);
        expect(stderr).toMatch(/sparq bench: ctx 512: round 1\/1: (dense|sparq:4) [\d.]+ t\/s \(slowest step [\d.]+ ms\), (dense|sparq:4) [\d.]+ t\/s \(slowest step [\d.]+ ms\)/);
        expect(stdout).toMatch(/^\| model \| backend \| threads \| ctx \| mode \|/m);

        expect((await fs.readdir(out)).sort()).toEqual(["bench.json", "bench.md", "bench.svg", "bench.vl.json"]);
        const result = validateBenchResult(JSON.parse(await fs.readFile(path.join(out, "bench.json"), "utf8")));
        expect(result.settings).toMatchObject({contexts: [256, 512], modes: ["dense", "sparq:4"], repeat: 1, tokens: 8, batch: 1, settleSteps: 2});
        expect(result.system.threads).toBe(2);
        expect(result.results.map((row) => `${row.ctx} ${row.mode}`)).toEqual(["256 dense", "256 sparq:4", "512 dense", "512 sparq:4"]);
        for (const row of result.results) {
            expect(row.generation.tokensPerSecond.perRound).toHaveLength(1);
            if (row.mode === "dense") {
                expect(row.sparqOps).toBeNull();
                expect(row.speedupVsDense).toBe(1);
                expect(row.idealSpeedup).toBe(1);
                continue;
            }
            // the op ran in both layers, once per timed token
            expect(row.sparqOps!.decodeSteps).toBe(8);
            expect(row.sparqOps!.layers.map((layer) => layer.opCount)).toEqual([8, 8]);
            // r = 16/4, k = max(32, n_kv/8) at the KV view (positions rounded up to 256: 512, 768): fewer bytes than dense, an ideal above 1
            expect(row.sparqOps!.layers[0]).toMatchObject({enabled: true, r: 4, k: row.ctx === 256 ? 64 : 96});
            expect(row.attention.bytesPerToken).toBeLessThan(row.attention.denseBytesPerToken);
            expect(row.idealSpeedup).toBeGreaterThan(1);
            expect(row.fractionOfIdeal).toBeCloseTo(row.speedupVsDense! / row.idealSpeedup, 10);
        }
        expect(await fs.readFile(path.join(out, "bench.md"), "utf8")).toMatch(/\| tiny \| cpu \| 2 \| 512 \| sparq:4 \|/);
        expect(await fs.readFile(path.join(out, "bench.svg"), "utf8")).toMatch(/^<svg [^]*sparq:4/);
    });

    it("keeps SparQ modes dense below --dense-below, and counts only the steps that ran SparQ", async () => {
        const out = path.join(temp.dir, "bench-dense-below");
        await run([
            "bench", "-m", tiny, "--ctx", "256,512", "--tg", "4", "--repeat", "1", "--modes", "dense,sparq:4", "--dense-below", "768",
            "--threads", "2", "--out", out
        ]);
        const result = validateBenchResult(JSON.parse(await fs.readFile(path.join(out, "bench.json"), "utf8")));
        const rows = result.results.filter((row) => row.mode === "sparq:4");
        // KV views: 512 cells at depth 256 (dense: below 768), 768 at depth 512 (SparQ)
        expect(rows.map((row) => row.sparqOps!.layers[0]!.opCount)).toEqual([0, 4]);
        expect(rows.map((row) => row.sparq)).toEqual([{ratio: 4, denseBelow: 768}, {ratio: 4, denseBelow: 768}]);
        expect(rows[0]!.idealSpeedup).toBe(1);
        expect(rows[1]!.idealSpeedup).toBeGreaterThan(1);
    });

    it("decodes several sequences together, one report per batch size", async () => {
        const out = path.join(temp.dir, "bench-batch");
        const {stderr} = await run([
            "bench", "-m", tiny, "--ctx", "256", "--tg", "4", "--repeat", "1", "--modes", "dense,sparq:4", "--batch", "1,3",
            "--threads", "2", "--out", out
        ]);
        expect(stderr).toMatch(/sparq bench: batch 3: ctx 256: filling 3 sequences/);
        expect((await fs.readdir(out)).sort()).toEqual(["batch-1", "batch-3"]);
        const result = validateBenchResult(JSON.parse(await fs.readFile(path.join(out, "batch-3", "bench.json"), "utf8")));
        expect(result.settings.batch).toBe(3);
        const [dense, sparq] = result.results;
        expect(dense!.prefill.tokens).toBe(3 * 256);
        // each of the 4 timed steps is one decode of the 3 sequences' tokens, running the op once in both layers
        const ops = sparq!.sparqOps!.layers.map((layer) => layer.opCount);
        expect(ops).toEqual([4, 4]);
        expect(sparq!.sparqOps!.decodeSteps).toBe(4);
        expect(sparq!.batch).toBe(3);
    });
});
