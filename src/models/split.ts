/**
 * How a model is spread over the GPUs of one host: llama.cpp's split mode, main GPU and tensor
 * split, which node-llama-cpp leaves at their defaults (whole layers over every visible GPU, in
 * proportion to free memory). With the layer split, each layer's KV cache and SparQ state (V sums,
 * transposed K) sit on the GPU that runs the layer.
 */
import type {Llama, LlamaModel, LlamaModelOptions} from "node-llama-cpp";
import {loadModelWithNativeOptions} from "./native-options.js";

export type GpuSplit = {
    /** "layer" (default): whole layers per GPU; "row": weight rows split, KV cache on mainGpu; "none": mainGpu alone. */
    mode?: "none" | "layer" | "row",
    /** The GPU of mode "none", and the one holding the KV cache in mode "row" (default 0). */
    mainGpu?: number,
    /** Share of the layers (or rows) per GPU, e.g. [3, 1]; 0 leaves a GPU out (default: by free memory). */
    tensorSplit?: number[]
};

/** Thrown for a split the GPUs at hand can't take; the message names the setting. */
export class GpuSplitError extends Error {}

/** Checks a split against the GPUs llama.cpp sees and turns it into the addon's options. */
export function resolveGpuSplit(split: GpuSplit, gpus: readonly string[]): Record<string, unknown> {
    const {mode = "layer", mainGpu = 0, tensorSplit} = split;
    if (gpus.length === 0)
        throw new GpuSplitError("a GPU split needs a GPU build with GPUs present (this llama instance sees none)");
    if (mode !== "none" && mode !== "layer" && mode !== "row")
        throw new GpuSplitError(`split mode "${String(mode)}" is none of "none", "layer", "row"`);
    if (!Number.isInteger(mainGpu) || mainGpu < 0 || mainGpu >= gpus.length)
        throw new GpuSplitError(`mainGpu ${mainGpu} does not exist (GPUs 0-${gpus.length - 1}: ${gpus.join(", ")})`);
    const native: Record<string, unknown> = {splitMode: mode, mainGpu};
    if (tensorSplit != null) {
        if (tensorSplit.length === 0 || tensorSplit.length > gpus.length)
            throw new GpuSplitError(`tensorSplit has ${tensorSplit.length} entries for ${gpus.length} GPU${gpus.length === 1 ? "" : "s"}`);
        if (!tensorSplit.every((share) => Number.isFinite(share) && share >= 0) || !tensorSplit.some((share) => share > 0))
            throw new GpuSplitError(`tensorSplit [${tensorSplit.join(", ")}] must hold shares >= 0, at least one of them > 0`);
        native.tensorSplit = [...tensorSplit];
    }
    return native;
}

/** The split that runs on the first `count` GPUs: mainGpu 0 alone for 1, equal whole-layer shares otherwise. */
export function splitOverFirstGpus(count: number): GpuSplit {
    if (!Number.isInteger(count) || count < 1)
        throw new GpuSplitError(`the GPU count must be an integer >= 1, got ${count}`);
    return count === 1 ? {mode: "none", mainGpu: 0} : {mode: "layer", tensorSplit: new Array<number>(count).fill(1)};
}

/** `llama.loadModel(options)` spread over the GPUs as `split` says; the model is an ordinary LlamaModel. */
export async function loadModelWithSplit(llama: Llama, options: LlamaModelOptions & {split: GpuSplit}): Promise<LlamaModel> {
    const {split, ...modelOptions} = options;
    const native = resolveGpuSplit(split, llama.gpu === false ? [] : await llama.getGpuDeviceNames());
    return loadModelWithNativeOptions(llama, modelOptions, native);
}
