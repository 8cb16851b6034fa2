// sparq-llama/sparq: SparQ settings and the controls of a context.
export {createSparqContext, getSparq, setSparq, getModelAttentionShape, type SparqInfo, type SparqLayerInfo} from "./context.js";
export {
    attentionTransferFraction, parseLayerSelection, resolveLayerConfig, resolveSparqSettings, SparqSettingsError,
    type SparqLayerSelection, type SparqSettings
} from "./settings.js";
