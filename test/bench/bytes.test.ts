import {describe, expect, it} from "vitest";
import {
    denseAttentionBytes, denseLayerAttentionBytes, idealSpeedup, kvViewLength, meanGenerationAttentionBytes,
    sparqAttentionBytes, weightBytesPerToken, type AttentionShape
} from "../../src/bench/bytes.js";

// tiny-llama's attention: 2 layers, d = 16, 2 KV heads, f16 cache
const shape: AttentionShape = {layerCount: 2, headDim: 16, kvHeadCount: 2, kvBytesPerElement: 2};

describe("attention bytes per token", () => {
    it("dense: 2 * S * d * n_kv_heads * n_layers * bytes", () => {
        // one layer at S = 100: K and V, 100 positions, 16 values, 2 heads, 2 bytes = 12800
        expect(denseLayerAttentionBytes(shape, 100)).toBe(12_800);
        expect(denseAttentionBytes(shape, 100)).toBe(25_600);
        // Llama-2-7B shape (32 layers, 32 KV heads, d = 128) at 4096 positions: 0.5 MiB per position, 2 GiB
        expect(denseAttentionBytes({layerCount: 32, headDim: 128, kvHeadCount: 32, kvBytesPerElement: 2}, 4096)).toBe(2 ** 31);
    });

    it("SparQ: (S*r + 2*k*d + 4*d) / (2*S*d + 2*d) of a dense layer, per SparQ layer", () => {
        // layer 0: r = 4, k = 32 at S = 100: (400 + 1024 + 64) / (3200 + 32) = 1488 / 3232 of 12800 = 5893.069...
        // layer 1 dense: 12800
        expect(sparqAttentionBytes(shape, 100, [{r: 4, k: 32}, null])).toBeCloseTo(5893.0693 + 12_800, 3);
        expect(sparqAttentionBytes(shape, 100, [{r: 4, k: 32}, {r: 4, k: 32}])).toBeCloseTo(2 * 5893.0693, 3);
        // k >= S: the op falls back to dense attention, all bytes are read
        expect(sparqAttentionBytes(shape, 100, [{r: 4, k: 100}, {r: 1, k: 500}])).toBe(25_600);
        expect(() => sparqAttentionBytes(shape, 100, [null])).toThrow(/settings for 1 layers, the model has 2/);
    });

    it("ideal speed-up: (W + A) / (W + A_sparq)", () => {
        expect(idealSpeedup(1000, 25_600, 12_800)).toBeCloseTo(26_600 / 13_800, 12);
        expect(idealSpeedup(1000, 25_600, 12_800)).toBeCloseTo(1.927536, 5);
        expect(idealSpeedup(5000, 0, 0)).toBe(1);
        // attention-only bound: W = 0, 1/8 of the bytes is 8x
        expect(idealSpeedup(0, 800, 100)).toBe(8);
        expect(() => idealSpeedup(-1, 10, 10)).toThrow(/must be >= 0/);
        expect(() => idealSpeedup(0, 0, 0)).toThrow(/read something/);
    });

    it("averages over the generated tokens: step i attends depth + i + 1 positions", () => {
        const nKvSeen: number[] = [];
        const result = meanGenerationAttentionBytes(shape, {
            depth: 100, tokens: 2, contextSize: 1024,
            layersAt: (nKv) => {
                nKvSeen.push(nKv);
                return [{r: 4, k: 32}, null];
            }
        });
        expect(result.meanPositions).toBe(101.5);
        // dense at S = 101 and 102: 2*S*16*2*2 per layer, 2 layers
        expect(result.dense).toBe((2 * 101 * 16 * 2 * 2 * 2 + 2 * 102 * 16 * 2 * 2 * 2) / 2);
        const layer = (s: number) => 2 * s * 16 * 2 * 2;
        const sparqLayer = (s: number) => layer(s) * (s * 4 + 2 * 32 * 16 + 4 * 16) / (2 * s * 16 + 2 * 16);
        expect(result.sparq).toBeCloseTo((sparqLayer(101) + layer(101) + sparqLayer(102) + layer(102)) / 2, 6);
        // k is resolved at llama.cpp's KV view: positions rounded up to 256
        expect(nKvSeen).toEqual([256, 256]);

        const dense = meanGenerationAttentionBytes(shape, {depth: 100, tokens: 2, contextSize: 1024, layersAt: null});
        expect(dense.sparq).toBe(dense.dense);
    });

    it("KV view length: rounded up to 256, capped by the context", () => {
        expect(kvViewLength(1, 4096)).toBe(256);
        expect(kvViewLength(256, 4096)).toBe(256);
        expect(kvViewLength(257, 4096)).toBe(512);
        expect(kvViewLength(300, 280)).toBe(280);
    });
});

describe("weight bytes per token", () => {
    it("sizes tensors by the next tensor's offset and skips the embedding when output.weight exists", () => {
        const tensors = [
            {name: "output.weight", fileOffset: 1500n},
            {name: "token_embd.weight", fileOffset: 0},
            {name: "blk.0.attn_q.weight", fileOffset: 1000}
        ];
        // sizes: token_embd 1000, attn_q 500, output 2500 - 1500 = 1000
        expect(weightBytesPerToken(tensors, 2500)).toEqual({total: 2500, perToken: 1500});
    });

    it("counts a tied embedding in full: it is the output projection", () => {
        const tensors = [{name: "token_embd.weight", fileOffset: 96}, {name: "blk.0.ffn_up.weight", fileOffset: 1120}];
        expect(weightBytesPerToken(tensors, 2144)).toEqual({total: 2048, perToken: 2048});
    });

    it("rejects a table that runs past the end of the file", () => {
        expect(() => weightBytesPerToken([{name: "a", fileOffset: 10}, {name: "b", fileOffset: 5000}], 100))
            .toThrow(/tensor b starts at byte 5000, past the end of the file/);
        expect(() => weightBytesPerToken([], 100)).toThrow(/no tensors/);
    });
});
