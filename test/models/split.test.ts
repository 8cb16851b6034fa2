import {describe, expect, it} from "vitest";
import {getSparqLlama} from "../../src/load.js";
import {GpuSplitError, loadModelWithSplit, resolveGpuSplit, splitOverFirstGpus} from "../../src/models/split.js";
import {stories260K} from "../helpers.js";

const twoGpus = ["NVIDIA H200", "NVIDIA H200"];

describe("GPU split controls", () => {
    it("turn a split into the addon's options", () => {
        expect(resolveGpuSplit({}, twoGpus)).toEqual({splitMode: "layer", mainGpu: 0});
        expect(resolveGpuSplit({mode: "row", mainGpu: 1, tensorSplit: [3, 1]}, twoGpus)).toEqual({splitMode: "row", mainGpu: 1, tensorSplit: [3, 1]});
        expect(splitOverFirstGpus(1)).toEqual({mode: "none", mainGpu: 0});
        expect(splitOverFirstGpus(2)).toEqual({mode: "layer", tensorSplit: [1, 1]});
    });

    it.each([
        [{mode: "diagonal"}, /split mode "diagonal" is none of/],
        [{mainGpu: 2}, /mainGpu 2 does not exist \(GPUs 0-1: NVIDIA H200, NVIDIA H200\)/],
        [{tensorSplit: [1, 1, 1]}, /tensorSplit has 3 entries for 2 GPUs/],
        [{tensorSplit: [0, 0]}, /must hold shares >= 0, at least one of them > 0/],
        [{tensorSplit: [1, -1]}, /must hold shares >= 0/]
    ])("reject %j naming the setting", (split, message) => {
        expect(() => resolveGpuSplit(split as never, twoGpus)).toThrow(GpuSplitError);
        expect(() => resolveGpuSplit(split as never, twoGpus)).toThrow(message);
    });

    it("refuse to split without GPUs instead of loading on the CPU", async () => {
        expect(() => splitOverFirstGpus(0)).toThrow(/integer >= 1, got 0/);
        const llama = await getSparqLlama({build: "never"});
        try {
            await expect(loadModelWithSplit(llama, {modelPath: stories260K, split: {mode: "layer"}}))
                .rejects.toThrow(/a GPU split needs a GPU build with GPUs present/);
        } finally {
            await llama.dispose();
        }
    });
});
