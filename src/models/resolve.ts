import fs from "node:fs/promises";
import path from "node:path";
import {readGgufFileInfo, resolveModelFile, type ResolveModelFileOptions} from "node-llama-cpp";

/**
 * Used when neither `--model` nor SPARQ_MODEL names a model: SmolLM2-135M-Instruct, Q8_0 (~145 MB),
 * downloaded once into node-llama-cpp's models folder.
 */
export const defaultModelUri = "hf:bartowski/SmolLM2-135M-Instruct-GGUF:Q8_0";

/** Thrown when a model can't be found, fetched or read, with what to do about it. */
export class ModelResolutionError extends Error {}

const uriSchemes = ["hf:", "huggingface:", "https:", "http:"];

/** Whether `model` is a node-llama-cpp model URI (resolved by its downloader) rather than a path. */
export function isModelUri(model: string): boolean {
    return uriSchemes.some((scheme) => model.startsWith(scheme));
}

/** Which model to use: an explicit argument, else SPARQ_MODEL, else {@link defaultModelUri}. */
export function chooseModel(model: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
    return model || env.SPARQ_MODEL || defaultModelUri;
}

export type ResolveModelOptions = {
    /** Downloader for URIs; node-llama-cpp's `resolveModelFile` unless replaced (tests). */
    download?: (uri: string, options: ResolveModelFileOptions) => Promise<string>,
    /** Where downloaded models are kept (node-llama-cpp's default folder unless set). */
    directory?: string
};

/**
 * Resolves a model argument to a local GGUF file and checks that it is one: a path must exist and
 * parse as GGUF; a URI is fetched (and cached) by node-llama-cpp's downloader.
 */
export async function resolveModel(model: string, {download = resolveModelFile, directory}: ResolveModelOptions = {}): Promise<string> {
    let file: string;
    if (isModelUri(model)) {
        try {
            file = await download(model, {directory, cli: process.stderr.isTTY === true});
        } catch (err) {
            throw new ModelResolutionError(
                `could not fetch the model ${model} (${(err as Error).message}). ` +
                "Without network access, pass a local GGUF file: --model /path/to/model.gguf or SPARQ_MODEL=/path/to/model.gguf"
            );
        }
    } else {
        file = path.resolve(model);
        const stat = await fs.stat(file).catch(() => null);
        if (stat == null)
            throw new ModelResolutionError(`model file not found: ${file}`);
        if (!stat.isFile())
            throw new ModelResolutionError(`model path is not a file: ${file}`);
    }
    await assertGguf(file);
    return file;
}

/** Throws a ModelResolutionError naming the file if it is not a readable GGUF model. */
export async function assertGguf(file: string): Promise<void> {
    const problem = await findGgufProblem(file).catch((err: Error) => err.message);
    if (problem != null)
        throw new ModelResolutionError(`${file} is not a valid GGUF model file: ${problem}`);
}

/** Why `file` can't be a complete GGUF model (the header parses, the tensors lie within the file), or null. */
async function findGgufProblem(file: string): Promise<string | null> {
    const {size} = await fs.stat(file);
    const info = await readGgufFileInfo(file, {readTensorInfo: true});
    const tensors = info.tensorInfo ?? [];
    if (tensors.length === 0)
        return "it holds no tensors";
    if ((info.infoEndOffset ?? 0) > size)
        return `its header ends at byte ${info.infoEndOffset}, past the end of the file (${size} bytes)`;
    const last = tensors.reduce((a, b) => (BigInt(a.fileOffset) > BigInt(b.fileOffset) ? a : b));
    if (BigInt(last.fileOffset) >= BigInt(size))
        return `tensor ${last.name} starts at byte ${last.fileOffset}, past the end of the file (${size} bytes): the file is truncated`;
    return null;
}
