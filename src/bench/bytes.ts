/**
 * The bandwidth model of a generated token (SPARQ.md, "The bandwidth bound"): a decode step reads
 * every weight once, plus the K and V cache of every layer for attention. Tokens/sec can't beat
 * bandwidth / bytes-per-token, so the ideal end-to-end SparQ speed-up is (W + A) / (W + A_sparq).
 */
import {attentionTransferFraction} from "../sparq/settings.js";

/** The attention shape of a model and its KV cache, as far as bytes go. */
export type AttentionShape = {
    layerCount: number,
    /** Size of one attention head (d). */
    headDim: number,
    /** KV heads (fewer than query heads under grouped-query attention). */
    kvHeadCount: number,
    /** Bytes of one cached K or V element: 2 for the default f16 cache. */
    kvBytesPerElement: number
};

/** r and k a SparQ layer uses; null for a layer that runs dense attention. */
export type LayerSelection = {r: number, k: number} | null;

/** Bytes of K and V one layer reads in a dense step attending S positions: 2 * S * d * n_kv_heads * bytes. */
export function denseLayerAttentionBytes(shape: AttentionShape, positions: number): number {
    return 2 * positions * shape.headDim * shape.kvHeadCount * shape.kvBytesPerElement;
}

/** Dense attention bytes of one generated token attending S positions: 2 * S * d * n_kv_heads * n_layers * bytes. */
export function denseAttentionBytes(shape: AttentionShape, positions: number): number {
    return denseLayerAttentionBytes(shape, positions) * shape.layerCount;
}

/**
 * Attention bytes of one generated token with SparQ: each SparQ layer reads
 * (S*r + 2*k*d + 4*d) / (2*S*d + 2*d) of a dense layer's bytes per KV head (all of it when k >= S,
 * where the op falls back to dense attention); a dense layer (null) reads all of them.
 */
export function sparqAttentionBytes(shape: AttentionShape, positions: number, layers: readonly LayerSelection[]): number {
    if (layers.length !== shape.layerCount)
        throw new Error(`got settings for ${layers.length} layers, the model has ${shape.layerCount}`);
    const layerBytes = denseLayerAttentionBytes(shape, positions);
    let bytes = 0;
    for (const layer of layers)
        bytes += layer == null ? layerBytes : layerBytes * attentionTransferFraction(layer, shape.headDim, positions);
    return bytes;
}

/** The bandwidth-bound speed-up of reading W + A_sparq bytes per token instead of W + A. */
export function idealSpeedup(weightBytes: number, denseAttention: number, sparqAttention: number): number {
    if (!(weightBytes >= 0 && denseAttention >= 0 && sparqAttention >= 0 && weightBytes + sparqAttention > 0))
        throw new Error(`bytes per token must be >= 0 and read something: W = ${weightBytes}, A = ${denseAttention}, A_sparq = ${sparqAttention}`);
    return (weightBytes + denseAttention) / (weightBytes + sparqAttention);
}

/** A tensor of a GGUF file: its name and where its data starts in the file. */
export type TensorLocation = {name: string, fileOffset: number | bigint};

/**
 * Weight bytes read per generated token, from a GGUF tensor table. Each tensor's size is the distance
 * to the next tensor's data (the last one runs to the end of the file), so it includes up to
 * alignment - 1 padding bytes. Every tensor is read once per token except `token_embd.weight` when the
 * model has a separate `output.weight`: the embedding lookup reads one row of it (counted as nothing).
 * With tied embeddings (no `output.weight`) it is the output projection and is read in full.
 */
export function weightBytesPerToken(tensors: readonly TensorLocation[], fileSize: number): {total: number, perToken: number} {
    if (tensors.length === 0)
        throw new Error("the model holds no tensors");
    const sorted = [...tensors].sort((a, b) => Number(a.fileOffset) - Number(b.fileOffset));
    const hasOutput = tensors.some((tensor) => tensor.name === "output.weight");
    let total = 0;
    let perToken = 0;
    for (const [i, tensor] of sorted.entries()) {
        const end = i + 1 < sorted.length ? Number(sorted[i + 1]!.fileOffset) : fileSize;
        const size = end - Number(tensor.fileOffset);
        if (size < 0)
            throw new Error(`tensor ${tensor.name} starts at byte ${tensor.fileOffset}, past the end of the file (${fileSize} bytes)`);
        total += size;
        if (!(hasOutput && tensor.name === "token_embd.weight"))
            perToken += size;
    }
    return {total, perToken};
}

/** KV cells llama.cpp's attention spans for S used cells: S rounded up to 256, at most the context size. */
export function kvViewLength(positions: number, contextSize: number): number {
    return Math.min(contextSize, Math.ceil(positions / 256) * 256);
}

/**
 * Mean attention bytes per token over `tokens` decode steps that start with `depth` tokens cached:
 * step i attends S = depth + i + 1 positions (itself included). `layersAt(nKv)` gives each layer's
 * r, k (or null) at a KV view length, as llama.cpp resolves them (ratio mode scales k with it).
 */
export function meanGenerationAttentionBytes(
    shape: AttentionShape,
    {depth, tokens, contextSize, layersAt}: {depth: number, tokens: number, contextSize: number, layersAt: ((nKv: number) => readonly LayerSelection[]) | null}
): {meanPositions: number, dense: number, sparq: number} {
    let dense = 0;
    let sparq = 0;
    for (let i = 0; i < tokens; i++) {
        const positions = depth + i + 1;
        const denseStep = denseAttentionBytes(shape, positions);
        dense += denseStep;
        sparq += layersAt == null ? denseStep : sparqAttentionBytes(shape, positions, layersAt(kvViewLength(positions, contextSize)));
    }
    return {meanPositions: depth + (tokens + 1) / 2, dense: dense / tokens, sparq: sparq / tokens};
}
