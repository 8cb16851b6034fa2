import path from "node:path";
import {afterAll, beforeAll, describe, expect, it} from "vitest";
import type {Llama, LlamaModel} from "node-llama-cpp";
import {getSparqLlama} from "../../src/load.js";
import {synthesizeModel} from "../../src/models/synthesize.js";
import {createSparqContext, getSparq, setSparq} from "../../src/sparq/context.js";
import {makeTempDir} from "../helpers.js";

describe("an architecture SparQ can't serve (Gemma 2: sliding-window layers)", () => {
    let temp: Awaited<ReturnType<typeof makeTempDir>>;
    let llama: Llama;
    let model: LlamaModel;

    beforeAll(async () => {
        temp = await makeTempDir("unsupported");
        const modelPath = path.join(temp.dir, "tiny-gemma2.gguf");
        await synthesizeModel({architecture: "tiny-gemma2", tensorType: "f16", outputPath: modelPath});
        llama = await getSparqLlama({build: "never"});
        model = await llama.loadModel({modelPath});
    });
    afterAll(async () => {
        await model?.dispose();
        await llama?.dispose();
        await temp?.cleanup();
    });

    it("throws when SparQ is requested, and the model still runs dense", async () => {
        await expect(createSparqContext(model, {contextSize: 512, threads: 2, sparq: {ratio: 8}}))
            .rejects.toThrow(/SparQ does not support sliding-window attention models yet/);

        const context = await createSparqContext(model, {contextSize: 512, threads: 2});
        try {
            expect(() => setSparq(context, {ratio: 8})).toThrow(/sliding-window/);
            const sequence = context.getSequence();
            await sequence.evaluateWithoutGeneratingNewTokens(model.tokenize("Once upon a time there was"));
            expect(sequence.nextTokenIndex).toBeGreaterThan(3);
            expect(getSparq(context).layers.every((layer) => !layer.enabled && layer.opCount === 0)).toBe(true);
        } finally {
            await context.dispose();
        }
    });
});
