// sparq-llama/sparq: SparQ settings and the controls of a context.
export {
    createSparqContext, getSparq, setSparq, getModelAttentionShape, getSparqBackend, type SparqInfo, type SparqLayerInfo
} from "./context.js";
export {
    attentionTransferFraction, defaultDenseBelow, parseLayerSelection, resolveLayerConfig, resolveSparqSettings, SparqSettingsError,
    type SparqBackend, type SparqLayerSelection, type SparqSettings
} from "./settings.js";
export {appendTokensInPlace} from "./token-history.js";
