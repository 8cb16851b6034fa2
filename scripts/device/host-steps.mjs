// Where the host's time per decode step goes, dense attention on the GPU, through node-llama-cpp:
// wall time per step against llama.cpp's own eval time (llama_perf_context: from the start of
// llama_decode to the end of llama_synchronize, so host input set-up + graph launch + GPU time).
// The rest is spent outside llama.cpp: node-llama-cpp's JavaScript, its worker hops and sampling.
//   node scripts/device/host-steps.mjs MODEL.gguf DEPTH...    (after the addon is built for CUDA)
import {getSparqLlama} from "../../dist/index.js";

const [modelPath, ...depths] = process.argv.slice(2);
const steps = 64;
let evalLine = null;
const llama = await getSparqLlama({
    gpu: "cuda", build: "never", logLevel: "info",
    logger: (level, message) => {
        const m = /eval time =\s*([\d.]+) ms \/\s*(\d+) runs/.exec(message);
        if (m && !message.includes("prompt eval")) evalLine = {ms: Number(m[1]), runs: Number(m[2])};
    }
});
const model = await llama.loadModel({modelPath});
const token = model.tokenize("the")[0];
console.log("| depth | path | wall ms/step | llama.cpp eval ms/step | outside llama.cpp ms/step |\n|---:|---|---:|---:|---:|");
for (const depth of depths.map(Number)) {
    const context = await model.createContext({contextSize: depth + 2*steps + 64, flashAttention: true, performanceTracking: true});
    const sequence = context.getSequence();
    await sequence.evaluateWithoutGeneratingNewTokens(Array.from({length: depth}, (_, i) => token + (i % 1000)));
    const paths = {
        "controlledEvaluate (greedy token)": () => sequence.controlledEvaluate([[token, {generateNext: {token: true}}]]),
        "evaluateWithoutGeneratingNewTokens": () => sequence.evaluateWithoutGeneratingNewTokens([token])
    };
    for (const [name, step] of Object.entries(paths)) {
        for (let i = 0; i < 8; i++) await step();
        await context.printTimings(); // resets llama.cpp's counters
        const start = performance.now();
        for (let i = 0; i < steps; i++) await step();
        const wall = (performance.now() - start)/steps;
        evalLine = null;
        await context.printTimings();
        if (evalLine?.runs !== steps) throw new Error(`llama_perf counted ${evalLine?.runs} runs for ${steps} steps`);
        const inside = evalLine.ms/steps;
        console.log(`| ${depth} | ${name} | ${wall.toFixed(2)} | ${inside.toFixed(2)} | ${(wall - inside).toFixed(2)} |`);
        await sequence.eraseContextTokenRanges([{start: depth, end: sequence.nextTokenIndex}]);
    }
    await context.dispose();
}
await llama.dispose();
