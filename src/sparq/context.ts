import type {LlamaContext, LlamaContextOptions, LlamaModel} from "node-llama-cpp";
import {getSparqVersion} from "../load.js";
import {readAttentionShape} from "../models/shape.js";
import {resolveLayerConfig, resolveSparqSettings, runsSparqAt, type NativeSparqParams, type SparqBackend, type SparqSettings} from "./settings.js";
import {appendTokensInPlace} from "./token-history.js";

/** The native controls our addon patch adds to node-llama-cpp's context. */
type SparqAddonContext = {
    setSparq(params: NativeSparqParams | {enabled: false}): void,
    getSparqInfo(nKv: number): {memorySize: number, layers: Array<{enabled: boolean, r?: number, k?: number, l?: number, device?: string, opCount: number}>}
};

/** One layer's SparQ state at a given KV length. */
export type SparqLayerInfo = {
    layer: number,
    enabled: boolean,
    /** r, k, l in use at that KV length (absent when the layer is dense). */
    r?: number,
    k?: number,
    l?: number,
    /**
     * Whether a decode step at that KV length runs the SparQ op in this layer: enabled, at least
     * denseBelow, and k below the KV length (else SparQ would keep every position: dense attention).
     */
    runsOp: boolean,
    /**
     * The backend device that runs this layer's SparQ op, as llama.cpp names it (absent when the layer
     * is dense): the device of its KV cache ("CUDA0", "RPC1"), or "CPU" where that device can't run
     * the op for this model (a head size its kernels don't take), which then copies the layer's K and
     * V to the host at every SparQ step; llama.cpp logs a warning naming those layers when the
     * settings apply.
     */
    device?: string,
    /** Decode steps in which this layer ran the SparQ op. */
    opCount: number
};

export type SparqInfo = {
    /** The settings last applied, or null when SparQ is off. */
    settings: SparqSettings | null,
    /** KV length from which decode steps run SparQ (the settings' denseBelow or its backend default); 0 when off. */
    denseBelow: number,
    /** Bytes SparQ adds to the context (running V sums, transposed K); 0 when off. */
    memorySize: number,
    /** KV length the per-layer r, k, l were resolved at. */
    kvLength: number,
    layers: SparqLayerInfo[]
};

const appliedSettings = new WeakMap<LlamaContext, {settings: SparqSettings, params: NativeSparqParams} | null>();

function addonOf(context: LlamaContext): SparqAddonContext {
    const addon = (context as unknown as {_ctx: Partial<SparqAddonContext>})._ctx;
    if (typeof addon?.setSparq !== "function" || getSparqVersion(context.model.llama) == null)
        throw new Error("this context does not come from a sparq-llama build: load the model through getSparqLlama()");
    return addon as SparqAddonContext;
}

/** Where the context's attention layers run: CUDA when the model has every layer on the GPU of a CUDA build. */
export function getSparqBackend(context: LlamaContext): SparqBackend {
    const {model} = context;
    return model.llama.gpu === "cuda" && model.gpuLayers >= getModelAttentionShape(model).layerCount ? "cuda" : "cpu";
}

/** The attention shape of a model as llama.cpp loaded it. */
export function getModelAttentionShape(model: LlamaModel): {layerCount: number, headDim: number, kvHeadCount: number} {
    const {layerCount, headDim, kvHeadCount} = readAttentionShape(model.fileInfo.architectureMetadata, model.filename ?? "this model");
    return {layerCount, headDim, kvHeadCount};
}

/**
 * Turns SparQ on (settings) or off (false) for a context. Applies from the next decode step on;
 * call it between generations. Defaults that depend on the backend (denseBelow) follow
 * getSparqBackend(context). Invalid settings throw a SparqSettingsError naming the setting;
 * a model or context SparQ can't serve throws the native layer's reason.
 */
export function setSparq(context: LlamaContext, settings: SparqSettings | false): void {
    const addon = addonOf(context);
    if (settings === false) {
        addon.setSparq({enabled: false});
        appliedSettings.set(context, null);
        return;
    }
    const params = resolveSparqSettings(settings, getModelAttentionShape(context.model), getSparqBackend(context));
    addon.setSparq(params);
    appliedSettings.set(context, {settings: {...settings}, params});
}

/** Current SparQ state of a context, with each layer's r, k, l at `kvLength` (default: the context size). */
export function getSparq(context: LlamaContext, kvLength: number = context.contextSize): SparqInfo {
    const info = addonOf(context).getSparqInfo(kvLength);
    const applied = appliedSettings.get(context) ?? null;
    const stepRunsOp = applied != null && runsSparqAt(applied.params, getModelAttentionShape(context.model).headDim, kvLength);
    return {
        settings: applied && {...applied.settings},
        denseBelow: applied?.params.denseBelow ?? 0,
        memorySize: info.memorySize,
        kvLength,
        layers: info.layers.map((layer, i) => ({layer: i, ...layer, runsOp: layer.enabled && stepRunsOp}))
    };
}

/**
 * `model.createContext(options)` with SparQ settings applied before the first token. Its sequences
 * keep their token history growing in place (see token-history.ts), which long contexts need in
 * dense steps as much as in SparQ ones.
 */
export async function createSparqContext(model: LlamaModel, options: LlamaContextOptions & {sparq?: SparqSettings | false} = {}): Promise<LlamaContext> {
    const {sparq, ...contextOptions} = options;
    const context = await model.createContext({flashAttention: true, ...contextOptions});
    appendTokensInPlace(context);
    try {
        if (sparq)
            setSparq(context, sparq);
    } catch (err) {
        await context.dispose();
        throw err;
    }
    return context;
}

export {resolveLayerConfig};
