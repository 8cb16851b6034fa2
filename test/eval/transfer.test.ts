import {describe, expect, it} from "vitest";
import type {Token} from "node-llama-cpp";
import {createSparqContext} from "../../src/sparq/context.js";
import {resolveSparqSettings} from "../../src/sparq/settings.js";
import {withBos} from "../../src/eval/data.js";
import {decodeLogits, maxRelativeDifference} from "../../src/eval/logits.js";
import {kvViewLength, stepTransferFraction, TransferMeter} from "../../src/eval/transfer.js";
import {stories260K, useSparqModel} from "../helpers.js";

describe("attention-transfer fraction", () => {
    it("pads the KV length like llama.cpp's cache view", () => {
        expect(kvViewLength(1, 2048)).toBe(256);
        expect(kvViewLength(256, 2048)).toBe(256);
        expect(kvViewLength(257, 2048)).toBe(512);
        expect(kvViewLength(1500, 2048)).toBe(1536);
        expect(kvViewLength(2048, 2048)).toBe(2048);
        expect(kvViewLength(300, 512)).toBe(512);
    });

    it("resolves r and k at the padded length and moves (S r + 2 k d + 4 d) / (2 S d + 2 d)", () => {
        const shape = {layerCount: 4, headDim: 128};
        const ratio8 = resolveSparqSettings({ratio: 8}, shape);
        // S = 600: view 768, r = 16, k = max(32, 768/16) = 48
        expect(stepTransferFraction(ratio8, 128, 600, 2048)).toBeCloseTo((600 * 16 + 2 * 48 * 128 + 4 * 128) / (2 * 600 * 128 + 2 * 128), 12);
        // S = 40 <= k = 32? no: k = max(32, 256/16 = 16) = 32 < 40, so sparse
        expect(stepTransferFraction(ratio8, 128, 40, 2048)).toBeCloseTo((40 * 16 + 2 * 32 * 128 + 512) / (2 * 40 * 128 + 256), 12);
        // S <= k: the op is dense
        expect(stepTransferFraction(ratio8, 128, 32, 2048)).toBe(1);
        expect(stepTransferFraction(null, 128, 600, 2048)).toBe(1);
        // half of the layers dense: the mean of the two
        const half = resolveSparqSettings({r: 32, k: 64, layers: "2-"}, shape);
        const sparse = (1000 * 32 + 2 * 64 * 128 + 512) / (2 * 1000 * 128 + 256);
        expect(stepTransferFraction(half, 128, 1000, 2048)).toBeCloseTo((1 + sparse) / 2, 12);

        const meter = new TransferMeter(half, 128, 2048);
        meter.step(1000);
        meter.step(10); // k = 64 >= 10: dense
        expect(meter.stepCount).toBe(2);
        expect(meter.meanFraction).toBeCloseTo(((1 + sparse) / 2 + 1) / 2, 12);
        expect(meter.bytesFraction).toBeCloseTo((1000 * (1 + sparse) / 2 + 10) / 1010, 12);
    });
});

describe("the transfer model's k is the one the op uses", () => {
    const loaded = useSparqModel(stories260K);

    it("ratio:2 at S ~ 100 uses k = 256 / 4 = 64 (padded view), not 100 / 4", async () => {
        // head dim 8: ratio 2 gives r = 4; k = max(32, n_kv / 4) with n_kv = 256 here -> 64, l = 16
        const text = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. " +
            "One day, she saw a big red ball under a tree. She ran to the ball and kicked it very hard. The ball flew over the fence. " +
            "Lily was sad because she could not get the ball back. Her mom came and said, \"Don't worry, Lily. We can buy a new ball.\"";
        const tokens: Token[] = withBos(loaded.model, loaded.model.tokenize(text)).slice(0, 100);
        expect(tokens.length).toBe(100);
        const run = async (sparq: {ratio: number} | {r: number, k: number}) => {
            const context = await createSparqContext(loaded.model, {contextSize: 512, sparq});
            try {
                return await decodeLogits(context, tokens, 70);
            } finally {
                await context.dispose();
            }
        };
        const ratio = await run({ratio: 2});
        const padded = await run({r: 4, k: 64});
        const unpadded = await run({r: 4, k: 32});
        const diff = (a: Float32Array[], b: Float32Array[]) => Math.max(...a.map((x, i) => maxRelativeDifference(x, b[i]!)));
        expect(diff(ratio, padded)).toBe(0);
        expect(diff(ratio, unpadded)).toBeGreaterThan(1e-3);
        const params = resolveSparqSettings({ratio: 2}, {layerCount: 5, headDim: 8});
        const k = 64;
        expect(stepTransferFraction(params, 8, 90, 512)).toBeCloseTo((90 * 4 + 2 * k * 8 + 32) / (2 * 90 * 8 + 16), 12);
    });
});
