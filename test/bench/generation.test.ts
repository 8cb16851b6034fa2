import path from "node:path";
import {afterAll, beforeAll, describe, expect, it} from "vitest";
import {checkBenchPlan, readBenchModelInfo, verifySparqRan, type BenchModelInfo} from "../../src/bench/generation.js";
import {parseModes} from "../../src/bench/options.js";
import {synthesizeModel} from "../../src/models/synthesize.js";
import {makeTempDir} from "../helpers.js";

let temp: Awaited<ReturnType<typeof makeTempDir>>;
let tiny: string;
beforeAll(async () => {
    temp = await makeTempDir("bench-generation");
    tiny = path.join(temp.dir, "tiny.gguf");
    await synthesizeModel({architecture: "tiny-llama", tensorType: "f16", outputPath: tiny});
});
afterAll(() => temp.cleanup());

describe("model info for the bench", () => {
    it("reads the shape, training context and weight bytes per token from the GGUF header", async () => {
        const info = await readBenchModelInfo(tiny);
        expect(info).toMatchObject({
            name: "tiny", architecture: "llama", layerCount: 2, headCount: 4, kvHeadCount: 2, headDim: 16,
            trainContextSize: 2048, kvBytesPerElement: 2
        });
        // f16 tiny-llama, by hand: per layer q 64x64, k 64x32, v 64x32, o 64x64, gate/up/down 64x128 at 2 bytes
        // (8192 + 4096 + 4096 + 8192 + 3 * 16384) plus two f32 norms of 64 (512) = 74240; output_norm 256;
        // output 64 x 32000 x 2 = 4096000; token_embd (a separate output exists) is not read in full
        expect(info.weightBytesPerToken).toBe(2 * 74_240 + 256 + 4_096_000);
    });
});

describe("bench plan checks", () => {
    const model = {name: "m", layerCount: 4, headDim: 64, trainContextSize: 4096} as BenchModelInfo;

    it("accepts depths that fit with the generated tokens", () => {
        expect(() => checkBenchPlan(model, {contexts: [1024, 4064], modes: parseModes("dense,sparq:8"), tokens: 32})).not.toThrow();
    });

    it("names a depth beyond the training context", () => {
        expect(() => checkBenchPlan(model, {contexts: [1024, 4090], modes: parseModes("dense"), tokens: 32}))
            .toThrow("--ctx 4090: 4090 + 32 generated tokens exceed the training context of m (4096 tokens)");
    });

    it("names SparQ settings the model can't take", () => {
        expect(() => checkBenchPlan(model, {contexts: [1024], modes: parseModes("dense,sparq:128,256"), tokens: 8}))
            .toThrow(/--modes sparq:128,256: SparQ setting "r": 128 is out of range \[1, 64\]/);
        expect(() => checkBenchPlan(model, {contexts: [1024], modes: parseModes("sparq:8", "--modes", "2-4"), tokens: 8}))
            .toThrow(/layer 4 does not exist \(the model has layers 0-3\)/);
    });
});

describe("proof that SparQ ran", () => {
    const check = (mode: string, ops: number[], enabled: boolean[]) => () => verifySparqRan({mode, depth: 512, steps: 8, ops, enabled});

    it("passes when every enabled layer ran the op once per step and no other did", () => {
        expect(check("sparq:8", [8, 8, 8], [true, true, true])).not.toThrow();
        expect(check("sparq:8", [0, 8, 8], [false, true, true])).not.toThrow();
        expect(check("dense", [0, 0, 0], [false, false, false])).not.toThrow();
    });

    it("fails loudly when SparQ did not run, ran partly, or ran in dense mode", () => {
        expect(check("sparq:8", [0, 0, 0], [true, true, true]))
            .toThrow("SparQ did not run as set in mode sparq:8 at ctx 512: layer 0 ran the SparQ op 0 times in 8 decode steps (expected 8)");
        expect(check("sparq:8", [8, 7, 8], [true, true, true])).toThrow(/layer 1 ran the SparQ op 7 times/);
        // a batch step split into several decodes is not one step
        expect(check("sparq:8", [16, 16, 16], [true, true, true])).toThrow(/layer 0 ran the SparQ op 16 times in 8 decode steps/);
        expect(check("sparq:8", [8, 8, 8], [false, true, true])).toThrow(/layer 0 ran the SparQ op 8 times in 8 decode steps \(expected 0\)/);
        expect(check("dense", [0, 8, 0], [false, false, false])).toThrow(/mode dense at ctx 512: layer 1 ran the SparQ op 8 times/);
        expect(check("sparq:8", [0, 0], [false, false])).toThrow(/enables SparQ in no layer/);
    });

});
