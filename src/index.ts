// sparq-llama's public API: everything node-llama-cpp exports (so existing code keeps working by
// changing its import), plus the SparQ build and loader.
export * from "node-llama-cpp";

export {getSparqLlama, getSparqVersion, SparqBinaryError, type SparqLlamaOptions} from "./load.js";
export {buildSparqLlama, findCachedBuild, getBuildKey, type SparqBuild, type SparqBuildOptions, type BuildProgress} from "./build/compile.js";
export {parseGpuBackend, supportedGpuBackends, ToolchainError, type GpuBackend} from "./build/toolchain.js";
export {applyPatches, exportPatches, PatchApplyError, VendorTamperedError} from "./build/patches.js";
export {readPin, PinMismatchError, type LlamaCppPin} from "./build/vendor.js";
export {resolveModel, chooseModel, defaultModelUri, ModelResolutionError} from "./models/resolve.js";
export {generate, type GenerateOptions, type GenerateResult} from "./generate.js";
export {
    createSparqContext, getSparq, setSparq, getModelAttentionShape, getSparqBackend, appendTokensInPlace, attentionTransferFraction, defaultDenseBelow,
    parseLayerSelection, resolveLayerConfig, resolveSparqSettings, SparqSettingsError,
    type SparqBackend, type SparqInfo, type SparqLayerInfo, type SparqLayerSelection, type SparqSettings
} from "./sparq/index.js";
export {loadModelWithSplit, resolveGpuSplit, splitOverFirstGpus, GpuSplitError, type GpuSplit} from "./models/split.js";
export {
    getSparqRpcLlama, loadModelOverRpc, parseRpcEndpoints, startRpcServer, getRpcServerPath, RpcError, type RpcServer, type RpcServerOptions
} from "./rpc.js";
