/**
 * SparQ settings as users write them, validated and resolved against a model: which layers, and
 * the r (query components), k (positions kept) and l (local window) each one uses.
 */

/** Which layers use SparQ: all of them, a list, a range string (`"2-"`, `"0-3,8,10-"`), or all but the first N. */
export type SparqLayerSelection = "all" | readonly number[] | string | {allButFirst: number};

export type SparqSettings = {
    /** Target compression c >= 1: r = d/c and k = max(kMin, S/(2c)) at KV length S. Exclusive with r and k. */
    ratio?: number,
    /** Query components scored in stage 1, 1..head size. Given with k instead of ratio. */
    r?: number,
    /**
     * Positions attended exactly, >= 1. Given with r instead of ratio. Steps whose KV length is at most
     * k run dense attention: SparQ would keep every position.
     */
    k?: number,
    /** Floor of k in ratio mode (default 32): short contexts stay close to dense. */
    kMin?: number,
    /** Local window: the last l positions are always kept (default k/4). */
    l?: number,
    /** Blend in mean(V) for the attention mass left out (default true, as in the paper). */
    meanRealloc?: boolean,
    /** One selection per KV group (default, as in the paper) or per query head. */
    gqa?: "shared" | "per-head",
    /**
     * Keep a transposed copy of K next to the cache (default true): stage 1 then reads r contiguous
     * rows per KV head instead of r scattered elements per position, about twice as fast at long
     * context, for the memory of one more K cache over the SparQ layers.
     */
    storeKTwice?: boolean,
    /**
     * KV length below which decode steps stay dense attention, where the op would not beat it.
     * Default (defaultDenseBelow): with every layer on CUDA 16384 for models with 32 or more KV
     * heads, 32768 for fewer (grouped-query models), twice that for a ratio below 8; 0 on the CPU.
     * 0 runs SparQ at every length.
     */
    denseBelow?: number,
    /** Layers that use SparQ (default all). */
    layers?: SparqLayerSelection
};

/** A model's attention shape, as far as SparQ cares. */
export type SparqModelShape = {
    layerCount: number,
    headDim: number,
    /** KV heads per layer; when left out, the defaults of a grouped-query model apply. */
    kvHeadCount?: number
};

/** Where a context's attention layers run: the backend whose op the settings pick defaults for. */
export type SparqBackend = "cpu" | "cuda";

/**
 * denseBelow when the settings leave it out (see SparqSettings.denseBelow). On CUDA: the KV length
 * from which the op's savings over flash attention outweigh SparQ's per-step bookkeeping, measured
 * end to end on an H100 (bench/results/gpu-e2e-h100). Each KV head is a unit of the op's work, so 32
 * of them fill the GPU at shorter lengths than 8 do; a ratio below 8 reads more and breaks even
 * later; r and k given directly count as 8. On the CPU the op wins at every length that matters.
 */
export function defaultDenseBelow(backend: SparqBackend, model: SparqModelShape, ratio?: number): number {
    if (backend === "cpu")
        return 0;
    const length = (model.kvHeadCount ?? 0) >= 32 ? 16384 : 32768;
    return ratio !== undefined && ratio < 8 ? 2 * length : length;
}

/** What the native layer takes: llama_sparq_params. */
export type NativeSparqParams = {
    enabled: boolean,
    ratio: number,
    r: number,
    k: number,
    kMin: number,
    l: number,
    flags: number,
    denseBelow: number,
    layers: boolean[]
};

/** Thrown for an invalid setting; `setting` names it. */
export class SparqSettingsError extends Error {
    constructor(readonly setting: string, message: string) {
        super(`SparQ setting "${setting}": ${message}`);
    }
}

export const sparqFlags = {meanRealloc: 1 << 0, gqaPerHead: 1 << 1, storeKTwice: 1 << 2} as const;
export const defaultKMin = 32;

function isInteger(value: unknown): value is number {
    return typeof value === "number" && Number.isInteger(value);
}

/** Expands a layer selection into one flag per layer; throws naming a layer that does not exist. */
export function parseLayerSelection(selection: SparqLayerSelection | undefined, layerCount: number): boolean[] {
    const layers = new Array<boolean>(layerCount).fill(false);
    const check = (layer: number) => {
        if (!isInteger(layer) || layer < 0 || layer >= layerCount)
            throw new SparqSettingsError("layers", `layer ${layer} does not exist (the model has layers 0-${layerCount - 1})`);
        return layer;
    };
    if (selection === undefined || selection === "all")
        return layers.fill(true);
    if (typeof selection === "object" && !Array.isArray(selection) && "allButFirst" in selection) {
        const n = selection.allButFirst;
        if (!isInteger(n) || n < 0 || n >= layerCount)
            throw new SparqSettingsError("layers", `allButFirst = ${n} must be in [0, ${layerCount - 1}]`);
        return layers.fill(true, n);
    }
    if (Array.isArray(selection)) {
        for (const layer of selection)
            layers[check(layer)] = true;
        return layers;
    }
    if (typeof selection !== "string" || selection.trim() === "")
        throw new SparqSettingsError("layers", `expected "all", a list of layers, a range string like "2-" or {allButFirst: N}`);
    for (const part of selection.split(",").map((p) => p.trim())) {
        const match = /^(\d*)-(\d*)$/.exec(part);
        if (/^\d+$/.test(part))
            layers[check(Number(part))] = true;
        else if (match != null && (match[1] !== "" || match[2] !== "")) {
            const first = match[1] === "" ? 0 : check(Number(match[1]));
            const last = match[2] === "" ? layerCount - 1 : check(Number(match[2]));
            if (first > last)
                throw new SparqSettingsError("layers", `range "${part}" is empty`);
            layers.fill(true, first, last + 1);
        } else
            throw new SparqSettingsError("layers", `"${part}" is not a layer or a range (e.g. 3, 0-3, 2-, -5)`);
    }
    return layers;
}

/** Validates settings against a model and turns them into the native parameters for `backend`. */
export function resolveSparqSettings(settings: SparqSettings, model: SparqModelShape, backend: SparqBackend = "cpu"): NativeSparqParams {
    const {
        ratio, r, k, kMin = defaultKMin, l, meanRealloc = true, gqa = "shared", storeKTwice = true, denseBelow = defaultDenseBelow(backend, model, ratio)
    } = settings;
    if (typeof storeKTwice !== "boolean")
        throw new SparqSettingsError("storeKTwice", `${String(storeKTwice)} must be true or false`);
    if (gqa !== "shared" && gqa !== "per-head")
        throw new SparqSettingsError("gqa", `"${gqa}" is neither "shared" nor "per-head"`);
    if (ratio !== undefined && (r !== undefined || k !== undefined))
        throw new SparqSettingsError("ratio", "give either ratio or r and k, not both");
    if (ratio === undefined && (r === undefined || k === undefined))
        throw new SparqSettingsError(r === undefined ? "r" : "k", "give ratio, or both r and k");
    if (ratio !== undefined && !(typeof ratio === "number" && ratio >= 1 && Number.isFinite(ratio)))
        throw new SparqSettingsError("ratio", `${ratio} must be a number >= 1`);
    if (r !== undefined && (!isInteger(r) || r < 1 || r > model.headDim))
        throw new SparqSettingsError("r", `${r} is out of range [1, ${model.headDim}] (the head size)`);
    if (k !== undefined && (!isInteger(k) || k < 1))
        throw new SparqSettingsError("k", `${k} must be an integer >= 1`);
    if (!isInteger(kMin) || kMin < 1)
        throw new SparqSettingsError("kMin", `${kMin} must be an integer >= 1`);
    if (l !== undefined && (!isInteger(l) || l < 0 || (k !== undefined && l > k)))
        throw new SparqSettingsError("l", `${l} must be an integer in [0, k]`);
    if (!isInteger(denseBelow) || denseBelow < 0)
        throw new SparqSettingsError("denseBelow", `${denseBelow} must be an integer >= 0`);
    return {
        enabled: true,
        ratio: ratio ?? 0,
        r: r ?? 0,
        k: k ?? 0,
        kMin,
        l: l ?? -1,
        flags: (meanRealloc ? sparqFlags.meanRealloc : 0) | (gqa === "per-head" ? sparqFlags.gqaPerHead : 0) |
            (storeKTwice ? sparqFlags.storeKTwice : 0),
        denseBelow,
        layers: parseLayerSelection(settings.layers, model.layerCount)
    };
}

/** r, k, l a layer uses at KV length `nKv` (mirrors llama_sparq_state::resolve, for reporting and the bytes model). */
export function resolveLayerConfig(params: NativeSparqParams, headDim: number, nKv: number): {r: number, k: number, l: number} {
    let r = params.ratio > 0 ? Math.max(1, Math.round(headDim / params.ratio)) : params.r;
    let k = params.ratio > 0 ? Math.max(params.kMin, Math.floor(nKv / (2 * params.ratio))) : params.k;
    r = Math.min(r, headDim);
    k = Math.max(k, 1);
    const l = params.l < 0 ? Math.floor(k / 4) : Math.min(params.l, k);
    return {r, k, l};
}

/**
 * Whether a decode step at KV length `nKv` runs the SparQ op (mirrors llama_sparq_runs_op): at least
 * denseBelow, and more positions than k (else SparQ would keep them all and dense attention runs).
 */
export function runsSparqAt(params: NativeSparqParams, headDim: number, nKv: number): boolean {
    return params.enabled && nKv >= params.denseBelow && resolveLayerConfig(params, headDim, nKv).k < nKv;
}

/**
 * Fraction of a dense step's attention bytes SparQ moves at KV length S: (S*r + 2*k*d + 4*d) / (2*S*d + 2*d),
 * or 1 when k >= S (the step runs dense attention).
 */
export function attentionTransferFraction({r, k}: {r: number, k: number}, headDim: number, nKv: number): number {
    if (k >= nKv)
        return 1;
    return (nKv * r + 2 * k * headDim + 4 * headDim) / (2 * nKv * headDim + 2 * headDim);
}
