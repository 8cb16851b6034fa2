/**
 * How much of dense attention's KV traffic a decode step moves, from the r and k the native layer
 * actually uses at that step.
 */
import {attentionTransferFraction, resolveLayerConfig, type NativeSparqParams} from "../sparq/settings.js";

/**
 * The KV length llama.cpp's graph sees (the cache view the SparQ op gets as n_kv, which ratio mode
 * resolves k against) when `visible` cells are in use: the used cells rounded up to a multiple of
 * 256, at least 256 and at most the cache size (llama_kv_cache::get_n_kv in the pinned tree, for a
 * single sequence that starts at cell 0). test/eval/transfer.test.ts checks this against the op.
 */
export function kvViewLength(visible: number, cacheSize: number): number {
    const pad = 256;
    return Math.min(cacheSize, Math.max(pad, Math.ceil(visible / pad) * pad));
}

/**
 * Fraction of dense attention's bytes one decode step moves, averaged over the layers (all layers
 * hold the same KV length, so this is also the bytes-weighted mean): 1 for a dense layer, else
 * attentionTransferFraction of that layer's r and k over the `visible` positions. `params` null is dense.
 */
export function stepTransferFraction(params: NativeSparqParams | null, headDim: number, visible: number, cacheSize: number): number {
    if (params == null || !params.enabled)
        return 1;
    const cfg = resolveLayerConfig(params, headDim, kvViewLength(visible, cacheSize));
    const sparse = attentionTransferFraction(cfg, headDim, visible);
    const enabled = params.layers.filter(Boolean).length;
    const layers = params.layers.length;
    return (enabled * sparse + (layers - enabled)) / layers;
}

/** Accumulates per-step fractions: the plain mean over steps and the bytes-weighted mean (weighted by S). */
export class TransferMeter {
    private steps = 0;
    private sum = 0;
    private weighted = 0;
    private weights = 0;

    constructor(private readonly params: NativeSparqParams | null, private readonly headDim: number, private readonly cacheSize: number) {}

    /** Records one decode step that attends over `visible` positions (the new token included). */
    step(visible: number): void {
        const f = stepTransferFraction(this.params, this.headDim, visible, this.cacheSize);
        this.steps++;
        this.sum += f;
        this.weighted += f * visible;
        this.weights += visible;
    }

    get stepCount(): number {
        return this.steps;
    }

    /** Mean over decode steps of the per-step fraction (NaN before any step). */
    get meanFraction(): number {
        return this.steps === 0 ? NaN : this.sum / this.steps;
    }

    /** Total bytes moved over total dense bytes (steps at longer S count more). */
    get bytesFraction(): number {
        return this.weights === 0 ? NaN : this.weighted / this.weights;
    }
}
