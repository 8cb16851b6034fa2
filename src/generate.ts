import {LlamaCompletion, type Llama, type Token} from "node-llama-cpp";

export type GenerateOptions = {
    /** Local GGUF file. */
    modelPath: string,
    prompt: string,
    /** Tokens to generate at most. */
    maxTokens: number,
    /** 0 (default) is greedy decoding. */
    temperature?: number,
    /** Context size; defaults to the model's training context, capped to what fits. */
    contextSize?: number,
    /** CPU threads; node-llama-cpp's default when unset. */
    threads?: number,
    /** Called with each decoded piece of text as it is generated. */
    onText?: (text: string) => void
};

export type GenerateResult = {
    text: string,
    tokens: Token[],
    promptTokens: number,
    /** Wall time of prompt processing plus generation. */
    seconds: number,
    /** Generated tokens per second of generation time (prompt processing excluded). */
    tokensPerSecond: number
};

/** Loads a model, completes a prompt and reports throughput; disposes everything it created. */
export async function generate(llama: Llama, options: GenerateOptions): Promise<GenerateResult> {
    const model = await llama.loadModel({modelPath: options.modelPath});
    try {
        const context = await model.createContext({contextSize: options.contextSize, threads: options.threads});
        const completion = new LlamaCompletion({contextSequence: context.getSequence()});
        const promptTokens = model.tokenize(options.prompt).length;
        const tokens: Token[] = [];
        const started = performance.now();
        let firstTokenAt = started;
        const text = await completion.generateCompletion(options.prompt, {
            maxTokens: options.maxTokens,
            temperature: options.temperature ?? 0,
            onToken: (chunk) => {
                if (tokens.length === 0)
                    firstTokenAt = performance.now();
                tokens.push(...chunk);
            },
            onTextChunk: options.onText
        });
        const finished = performance.now();
        const generationSeconds = (finished - firstTokenAt) / 1000;
        return {
            text,
            tokens,
            promptTokens,
            seconds: (finished - started) / 1000,
            tokensPerSecond: tokens.length > 1 ? (tokens.length - 1) / generationSeconds : 0
        };
    } finally {
        await model.dispose();
    }
}
