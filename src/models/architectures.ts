/**
 * Named llama-style model shapes for synthetic (random-weight) GGUF models.
 *
 * Field names mirror llama.cpp's hyperparameter names (`n_layer`, `n_embd`, ...) so they can be
 * compared directly with what llama.cpp logs when it loads a model.
 */

/**
 * The llama.cpp architectures the synthesizer can emit: llama and qwen2 share one tensor layout;
 * gemma2 adds norms after attention and the feed-forward block, and alternates sliding-window layers.
 */
export type GgufArchitecture = "llama" | "qwen2" | "gemma2";

/** The dimensions that define a model's compute and memory footprint. */
export interface ModelShape {
    /** Transformer blocks. */
    readonly n_layer: number,
    /** Hidden size (residual stream width). */
    readonly n_embd: number,
    /** Query heads. */
    readonly n_head: number,
    /** Key/value heads; fewer than `n_head` means grouped-query attention. */
    readonly n_head_kv: number,
    /** Size of each attention head (also the RoPE dimension). */
    readonly head_dim: number,
    /** Hidden size of the SwiGLU feed-forward block. */
    readonly n_ff: number,
    /** Training context length written as `<arch>.context_length`; the default context size of loaders. */
    readonly context_length: number
}

/** A complete synthetic model description: shape plus everything else llama.cpp needs to load it. */
export interface ModelArchitecture extends ModelShape {
    /** Value of `general.architecture`, which selects llama.cpp's graph and the metadata key prefix. */
    readonly gguf_architecture: GgufArchitecture,
    /** RoPE base frequency (`rope_theta` in Hugging Face configs). */
    readonly rope_freq_base: number,
    /** Epsilon of the RMS norms. */
    readonly rms_norm_eps: number,
    /**
     * Where the tokenizer comes from: the name of a vocab file in llama.cpp's `models/` folder
     * (`"llama-bpe"` means `ggml-vocab-llama-bpe.gguf`) or a path to any GGUF file with tokenizer metadata.
     * Its token count sets the vocabulary size.
     */
    readonly vocab: string,
    /** Whether the Q/K/V projections have biases (Qwen2 does). */
    readonly attention_bias: boolean,
    /** Whether the output projection reuses `token_embd` instead of a separate `output.weight`. */
    readonly tie_word_embeddings: boolean,
    /** One line about what the shape imitates. */
    readonly description: string
}

/** Settings that a custom architecture may leave out, with the values it then gets. */
export const customArchitectureDefaults = {
    gguf_architecture: "llama",
    rope_freq_base: 10_000,
    rms_norm_eps: 1e-5,
    vocab: "llama-bpe",
    attention_bias: false,
    tie_word_embeddings: false,
    description: "custom shape"
} as const satisfies Omit<ModelArchitecture, keyof ModelShape>;

/** A fully explicit architecture: the shape is required, the rest defaults to {@link customArchitectureDefaults}. */
export type CustomArchitecture = ModelShape & Partial<Omit<ModelArchitecture, keyof ModelShape>>;

/** The shape of the tiny test models: 2 layers, 4/2 heads of 16. */
const tinyShape = {n_layer: 2, n_embd: 64, n_head: 4, n_head_kv: 2, head_dim: 16, n_ff: 128, context_length: 2048} as const;

/** The named architectures. Context lengths are long on purpose: these models exist to benchmark attention. */
export const architectures = {
    "tiny-llama": {
        description: "Tiny GQA llama for fast tests (not a real model)",
        gguf_architecture: "llama",
        ...tinyShape,
        rope_freq_base: 10_000,
        rms_norm_eps: 1e-5,
        // the SentencePiece vocab has 32000 tokens (vs 128256 for llama-bpe), which keeps test files small
        vocab: "llama-spm",
        attention_bias: false,
        tie_word_embeddings: false
    },
    "smollm2-135m": {
        description: "Shape of HuggingFaceTB/SmolLM2-135M",
        gguf_architecture: "llama",
        n_layer: 30,
        n_embd: 576,
        n_head: 9,
        n_head_kv: 3,
        head_dim: 64,
        n_ff: 1536,
        context_length: 8192,
        rope_freq_base: 100_000,
        rms_norm_eps: 1e-5,
        // GPT-2's 50257-token BPE vocab stands in for SmolLM2's own 49152-token one, which llama.cpp does not ship
        vocab: "gpt-2",
        attention_bias: false,
        tie_word_embeddings: true
    },
    "llama2-7b": {
        description: "Shape of Llama-2-7B (multi-head attention), with a context stretched to 32k",
        gguf_architecture: "llama",
        n_layer: 32,
        n_embd: 4096,
        n_head: 32,
        n_head_kv: 32,
        head_dim: 128,
        n_ff: 11008,
        context_length: 32_768,
        rope_freq_base: 10_000,
        rms_norm_eps: 1e-5,
        vocab: "llama-spm",
        attention_bias: false,
        tie_word_embeddings: false
    },
    "llama3-8b": {
        description: "Shape of Llama-3.1-8B (GQA 32/8), without Llama 3.1's RoPE frequency scaling",
        gguf_architecture: "llama",
        n_layer: 32,
        n_embd: 4096,
        n_head: 32,
        n_head_kv: 8,
        head_dim: 128,
        n_ff: 14336,
        context_length: 131_072,
        rope_freq_base: 500_000,
        rms_norm_eps: 1e-5,
        vocab: "llama-bpe",
        attention_bias: false,
        tie_word_embeddings: false
    },
    "qwen2.5-7b": {
        description: "Shape of Qwen2.5-7B (GQA 28/4, Q/K/V biases)",
        gguf_architecture: "qwen2",
        n_layer: 28,
        n_embd: 3584,
        n_head: 28,
        n_head_kv: 4,
        head_dim: 128,
        n_ff: 18944,
        context_length: 32_768,
        rope_freq_base: 1_000_000,
        rms_norm_eps: 1e-6,
        vocab: "qwen2",
        attention_bias: true,
        tie_word_embeddings: false
    },
    "tiny-gemma2": {
        // for tests of what SparQ refuses: every other layer attends through a sliding window
        description: "Tiny Gemma 2 (sliding-window attention) for fast tests (not a real model)",
        gguf_architecture: "gemma2",
        ...tinyShape,
        rope_freq_base: 10_000,
        rms_norm_eps: 1e-6,
        vocab: "llama-spm",
        attention_bias: false,
        tie_word_embeddings: true
    }
} as const satisfies Record<string, ModelArchitecture>;

/** Name of a predefined architecture. */
export type ArchitectureName = keyof typeof architectures;

/** Names of all predefined architectures. */
export const architectureNames = Object.keys(architectures) as ArchitectureName[];

/** Whether `name` is one of the predefined architectures. */
export function isArchitectureName(name: string): name is ArchitectureName {
    return Object.hasOwn(architectures, name);
}

/**
 * Look up a named architecture and apply overrides, or complete a custom one with defaults;
 * the result is validated.
 * @throws when the name is unknown (the message lists the known names) or the shape is invalid
 */
export function resolveArchitecture(
    selection:
        | {readonly architecture: string, readonly overrides?: Partial<ModelArchitecture>}
        | {readonly architecture?: undefined, readonly overrides: CustomArchitecture}
): ModelArchitecture {
    let resolved: ModelArchitecture;
    if (selection.architecture != null) {
        if (!isArchitectureName(selection.architecture))
            throw new Error(
                `Unknown architecture "${selection.architecture}". Known architectures: ${architectureNames.join(", ")}`
            );
        resolved = {...architectures[selection.architecture], ...withoutUndefined(selection.overrides ?? {})};
    } else {
        assertHasShape(selection.overrides);
        // the shape fields were checked just above, and the rest have defaults
        resolved = {...customArchitectureDefaults, ...withoutUndefined(selection.overrides)} as ModelArchitecture;
    }

    validateArchitecture(resolved);
    return resolved;
}

/** Check that llama.cpp can build a graph for the architecture. */
export function validateArchitecture(architecture: ModelArchitecture): void {
    const positiveIntegerFields = [
        "n_layer", "n_embd", "n_head", "n_head_kv", "head_dim", "n_ff", "context_length"
    ] as const satisfies readonly (keyof ModelShape)[];
    for (const field of positiveIntegerFields) {
        const value = architecture[field];
        if (!Number.isSafeInteger(value) || value <= 0)
            throw new Error(`Architecture field ${field} must be a positive integer, got ${value}`);
    }

    if (!["llama", "qwen2", "gemma2"].includes(architecture.gguf_architecture))
        throw new Error(`gguf_architecture must be "llama", "qwen2" or "gemma2", got "${architecture.gguf_architecture}"`);
    // llama.cpp's gemma2 reads its output projection from token_embd
    if (architecture.gguf_architecture === "gemma2" && !architecture.tie_word_embeddings)
        throw new Error("gemma2 ties the output projection to the token embeddings: set tie_word_embeddings");
    if (architecture.n_head % architecture.n_head_kv !== 0)
        throw new Error(`n_head (${architecture.n_head}) must be a multiple of n_head_kv (${architecture.n_head_kv})`);
    // RoPE rotates pairs of head values
    if (architecture.head_dim % 2 !== 0)
        throw new Error(`head_dim must be even for RoPE, got ${architecture.head_dim}`);
    // llama.cpp's qwen2 graph sizes the query projection as n_embd, not n_head * head_dim
    if (architecture.gguf_architecture === "qwen2" && architecture.n_head * architecture.head_dim !== architecture.n_embd)
        throw new Error(
            `qwen2 needs n_head * head_dim == n_embd, got ${architecture.n_head} * ${architecture.head_dim} != ${architecture.n_embd}`
        );
    if (!(architecture.rope_freq_base > 0))
        throw new Error(`rope_freq_base must be positive, got ${architecture.rope_freq_base}`);
    if (!(architecture.rms_norm_eps > 0))
        throw new Error(`rms_norm_eps must be positive, got ${architecture.rms_norm_eps}`);
}

function assertHasShape(overrides: Partial<ModelArchitecture>): void {
    const shapeFields = [
        "n_layer", "n_embd", "n_head", "n_head_kv", "head_dim", "n_ff", "context_length"
    ] as const satisfies readonly (keyof ModelShape)[];
    const missing = shapeFields.filter((field) => overrides[field] == null);
    if (missing.length > 0)
        throw new Error(
            `Without an architecture name, the overrides must give the whole shape; missing: ${missing.join(", ")}. ` +
            `Or start from a named architecture: ${architectureNames.join(", ")}`
        );
}

/** Drop keys whose value is undefined, so that `{n_layer: undefined}` does not erase a preset's value. */
function withoutUndefined<T extends object>(value: T): Partial<T> {
    return Object.fromEntries(Object.entries(value).filter(([, fieldValue]) => fieldValue !== undefined)) as Partial<T>;
}
