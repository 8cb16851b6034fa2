/**
 * Model-load options that node-llama-cpp does not forward to its native AddonModel (our addon
 * patches read them: RPC servers, the GPU split). LlamaModel passes a fixed set of options to the
 * addon, so these go in through a subclass of AddonModel installed once on a Llama's bindings: it
 * adds them only to the load that asked for them (matched by model path; memory-estimation loads,
 * which use noAlloc, are left alone), so every other load and LlamaModel itself work unchanged.
 */
import path from "node:path";
import type {Llama, LlamaModel, LlamaModelOptions} from "node-llama-cpp";

export type NativeModelOptions = Record<string, unknown>;

type AddonModelInstance = {init(): Promise<boolean>, dispose(): Promise<void>};
type AddonModelClass = new (modelPath: string, options: NativeModelOptions) => AddonModelInstance;

type Installed = {
    /** Loads waiting for their AddonModel, by resolved model path. */
    pending: Map<string, NativeModelOptions[]>,
    /** node-llama-cpp's own AddonModel class. */
    AddonModel: AddonModelClass
};
const installed = new WeakMap<Llama, Installed>();

function install(llama: Llama): Installed {
    const existing = installed.get(llama);
    if (existing != null)
        return existing;
    const pending = new Map<string, NativeModelOptions[]>();
    const bindings = (llama as unknown as {_bindings: {AddonModel: AddonModelClass}})._bindings;
    const Original = bindings.AddonModel;
    bindings.AddonModel = class AddonModelWithNativeOptions extends Original {
        constructor(modelPath: string, options: NativeModelOptions) {
            const waiting = options?.noAlloc === true || options?.vocabOnly === true ? undefined : pending.get(path.resolve(modelPath));
            const extra = waiting?.shift();
            if (waiting?.length === 0)
                pending.delete(path.resolve(modelPath));
            super(modelPath, extra == null ? options : {...options, ...extra});
        }
    };
    const entry = {pending, AddonModel: Original};
    installed.set(llama, entry);
    return entry;
}

/** `llama.loadModel(options)` with `native` added to the options its AddonModel gets. */
export async function loadModelWithNativeOptions(llama: Llama, options: LlamaModelOptions, native: NativeModelOptions): Promise<LlamaModel> {
    const {pending} = install(llama);
    const key = path.resolve(options.modelPath);
    const queue = pending.get(key) ?? [];
    queue.push(native);
    pending.set(key, queue);
    try {
        return await llama.loadModel(options);
    } finally {
        // not consumed when the load failed before creating its AddonModel
        const index = queue.indexOf(native);
        if (index >= 0)
            queue.splice(index, 1);
        if (queue.length === 0 && pending.get(key) === queue)
            pending.delete(key);
    }
}

/** A bare AddonModel of `llama`'s bindings with `native` options: for checks that load no model (init() then dispose()). */
export function createAddonModel(llama: Llama, modelPath: string, native: NativeModelOptions): AddonModelInstance {
    return new (install(llama).AddonModel)(path.resolve(modelPath), native);
}
