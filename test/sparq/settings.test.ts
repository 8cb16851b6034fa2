import {describe, expect, it} from "vitest";
import {
    attentionTransferFraction, defaultDenseBelow, parseLayerSelection, resolveLayerConfig, resolveSparqSettings, runsSparqAt, SparqSettingsError, sparqFlags
} from "../../src/sparq/settings.js";

const model = {layerCount: 30, headDim: 64};

function errorOf(work: () => unknown): SparqSettingsError {
    try {
        work();
    } catch (err) {
        if (err instanceof SparqSettingsError)
            return err;
        throw err;
    }
    throw new Error("no error was thrown");
}

describe("layer selection", () => {
    const on = (flags: boolean[]) => flags.flatMap((flag, i) => (flag ? [i] : []));

    it("expands lists, ranges and all-but-first", () => {
        expect(on(parseLayerSelection("all", 4))).toEqual([0, 1, 2, 3]);
        expect(on(parseLayerSelection(undefined, 3))).toEqual([0, 1, 2]);
        expect(on(parseLayerSelection("2-", 5))).toEqual([2, 3, 4]);
        expect(on(parseLayerSelection("-1", 5))).toEqual([0, 1]);
        expect(on(parseLayerSelection("0-1, 3", 5))).toEqual([0, 1, 3]);
        expect(on(parseLayerSelection([4, 0], 5))).toEqual([0, 4]);
        expect(on(parseLayerSelection({allButFirst: 2}, 5))).toEqual([2, 3, 4]);
    });

    it("names a layer that does not exist", () => {
        const error = errorOf(() => parseLayerSelection([99], 30));
        expect(error.setting).toBe("layers");
        expect(error.message).toBe('SparQ setting "layers": layer 99 does not exist (the model has layers 0-29)');
        expect(errorOf(() => parseLayerSelection("28-31", 30)).message).toMatch(/layer 31 does not exist/);
        expect(errorOf(() => parseLayerSelection("3-1", 30)).message).toMatch(/range "3-1" is empty/);
        expect(errorOf(() => parseLayerSelection("two", 30)).message).toMatch(/"two" is not a layer or a range/);
        expect(errorOf(() => parseLayerSelection({allButFirst: 30}, 30)).message).toMatch(/allButFirst = 30/);
    });
});

describe("settings validation", () => {
    it.each([
        [{ratio: 0.5}, "ratio", /0.5 must be a number >= 1/],
        [{r: 65, k: 10}, "r", /65 is out of range \[1, 64\]/],
        [{r: 0, k: 10}, "r", /out of range/],
        [{r: 8, k: 0}, "k", /must be an integer >= 1/],
        [{r: 8}, "k", /give ratio, or both r and k/],
        [{ratio: 8, r: 8, k: 8}, "ratio", /not both/],
        [{ratio: 8, kMin: 0}, "kMin", /must be an integer >= 1/],
        [{r: 8, k: 16, l: 17}, "l", /in \[0, k\]/],
        [{ratio: 8, gqa: "sometimes"}, "gqa", /neither/],
        [{ratio: 8, storeKTwice: "yes"}, "storeKTwice", /must be true or false/],
        [{ratio: 8, denseBelow: -1}, "denseBelow", /-1 must be an integer >= 0/],
        [{ratio: 8, layers: [30]}, "layers", /layer 30 does not exist/]
    ] as const)("rejects %j naming %s", (settings, setting, message) => {
        const error = errorOf(() => resolveSparqSettings(settings as never, model));
        expect(error.setting).toBe(setting);
        expect(error.message).toMatch(message);
    });

    it("turns valid settings into native parameters", () => {
        expect(resolveSparqSettings({ratio: 8, layers: "28-"}, model)).toEqual({
            enabled: true, ratio: 8, r: 0, k: 0, kMin: 32, l: -1, flags: sparqFlags.meanRealloc | sparqFlags.storeKTwice, denseBelow: 0,
            layers: [...new Array(28).fill(false), true, true]
        });
        const absolute = resolveSparqSettings({r: 16, k: 128, l: 0, meanRealloc: false, gqa: "per-head", storeKTwice: false}, model);
        expect(absolute).toMatchObject({ratio: 0, r: 16, k: 128, l: 0, flags: sparqFlags.gqaPerHead});
    });
});

describe("per-layer r, k, l and bytes moved", () => {
    it("resolves a ratio against the KV length, with the k floor", () => {
        const params = resolveSparqSettings({ratio: 8}, model);
        expect(resolveLayerConfig(params, 64, 16384)).toEqual({r: 8, k: 1024, l: 256});
        expect(resolveLayerConfig(params, 64, 100)).toEqual({r: 8, k: 32, l: 8});
        expect(resolveLayerConfig(resolveSparqSettings({r: 16, k: 64, l: 5}, model), 64, 9999)).toEqual({r: 16, k: 64, l: 5});
    });

    it("runs the op only where the KV view holds more than k cells and reaches denseBelow", () => {
        const fixed = resolveSparqSettings({r: 16, k: 256}, model);
        expect(runsSparqAt(fixed, 64, 256)).toBe(false); // SparQ would keep every cell: dense
        expect(runsSparqAt(fixed, 64, 512)).toBe(true);
        // ratio 8: k = max(32, S/16) < S from S = 33 on
        expect(runsSparqAt(resolveSparqSettings({ratio: 8}, model), 64, 32)).toBe(false);
        expect(runsSparqAt(resolveSparqSettings({ratio: 8}, model), 64, 256)).toBe(true);
        const below = resolveSparqSettings({ratio: 8, denseBelow: 1024}, model);
        expect(runsSparqAt(below, 64, 768)).toBe(false);
        expect(runsSparqAt(below, 64, 1024)).toBe(true);
    });

    it("defaults denseBelow per backend: dense below 32k on CUDA, SparQ at every length on the CPU", () => {
        expect(resolveSparqSettings({ratio: 8}, model).denseBelow).toBe(0);
        expect(resolveSparqSettings({ratio: 8}, {...model, kvHeadCount: 32}, "cpu").denseBelow).toBe(0);
        const cuda = resolveSparqSettings({ratio: 8}, model, "cuda");
        expect(cuda.denseBelow).toBe(32768);
        expect(runsSparqAt(cuda, 64, 16384)).toBe(false);
        expect(runsSparqAt(cuda, 64, 32768)).toBe(true);
        // a denseBelow the settings give wins on every backend, 0 included
        expect(resolveSparqSettings({ratio: 8, denseBelow: 0}, model, "cuda").denseBelow).toBe(0);
        expect(resolveSparqSettings({ratio: 8, denseBelow: 1024}, model, "cuda").denseBelow).toBe(1024);
    });

    it("defaults denseBelow on CUDA by KV heads: 16k from 32 of them, 32k for grouped-query models", () => {
        for (const [kvHeadCount, expected] of [[undefined, 32768], [8, 32768], [31, 32768], [32, 16384], [64, 16384]] as const) {
            const shape = {...model, kvHeadCount};
            expect(defaultDenseBelow("cuda", shape)).toBe(expected);
            const params = resolveSparqSettings({ratio: 8}, shape, "cuda");
            expect(params.denseBelow).toBe(expected);
            expect(runsSparqAt(params, 64, expected - 1)).toBe(false);
            expect(runsSparqAt(params, 64, expected)).toBe(true);
            expect(defaultDenseBelow("cpu", shape)).toBe(0);
        }
        expect(resolveSparqSettings({ratio: 8, denseBelow: 0}, {...model, kvHeadCount: 32}, "cuda").denseBelow).toBe(0);
    });

    it("doubles the CUDA default of denseBelow for a ratio below 8, not for r and k given directly", () => {
        for (const [kvHeadCount, atEight] of [[8, 32768], [32, 16384]] as const) {
            const shape = {...model, kvHeadCount};
            expect(resolveSparqSettings({ratio: 16}, shape, "cuda").denseBelow).toBe(atEight);
            expect(resolveSparqSettings({ratio: 8}, shape, "cuda").denseBelow).toBe(atEight);
            expect(resolveSparqSettings({ratio: 7.5}, shape, "cuda").denseBelow).toBe(2 * atEight);
            expect(resolveSparqSettings({ratio: 4}, shape, "cuda").denseBelow).toBe(2 * atEight);
            expect(resolveSparqSettings({r: 8, k: 256}, shape, "cuda").denseBelow).toBe(atEight);
            expect(resolveSparqSettings({ratio: 4}, shape, "cpu").denseBelow).toBe(0);
            expect(resolveSparqSettings({ratio: 4, denseBelow: 1024}, shape, "cuda").denseBelow).toBe(1024);
        }
    });

    it("models the transfer fraction as in the paper", () => {
        // d = 128, S = 4096, r = 16, k = 256: (4096*16 + 2*256*128 + 4*128) / (2*4096*128 + 2*128)
        expect(attentionTransferFraction({r: 16, k: 256}, 128, 4096)).toBeCloseTo((65536 + 65536 + 512) / (1048576 + 256), 12);
        expect(attentionTransferFraction({r: 16, k: 4096}, 128, 4096)).toBe(1);
    });
});
