/** The attention shape of a model, read from its GGUF architecture metadata. */
export type AttentionShapeMetadata = {
    layerCount: number,
    headCount: number,
    kvHeadCount: number,
    headDim: number,
    /** Training context, when the file states it. */
    trainContextSize?: number
};

type ArchitectureMetadata = {
    block_count?: number, embedding_length?: number, context_length?: number,
    attention?: {head_count?: number, head_count_kv?: number, key_length?: number}
};

/** Layer count, head counts and head size from `architectureMetadata`; throws naming `source` when they are missing. */
export function readAttentionShape(architectureMetadata: unknown, source: string): AttentionShapeMetadata {
    const metadata = architectureMetadata as ArchitectureMetadata;
    const layerCount = metadata.block_count;
    const headCount = metadata.attention?.head_count;
    const kvHeadCount = metadata.attention?.head_count_kv ?? headCount;
    const headDim = metadata.attention?.key_length ??
        (metadata.embedding_length != null && headCount ? metadata.embedding_length / headCount : undefined);
    if (layerCount == null || headCount == null || kvHeadCount == null || headDim == null)
        throw new Error(`${source}: the GGUF metadata lacks the layer count, head counts or head size`);
    return {layerCount, headCount, kvHeadCount, headDim, trainContextSize: metadata.context_length};
}
