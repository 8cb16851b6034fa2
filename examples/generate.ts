// Generation with SparQ on, next to the same generation dense.
//   npx tsx examples/generate.ts [model.gguf] [prompt]
import {createSparqContext, getSparq, getSparqLlama, LlamaCompletion} from "sparq-llama";

const modelPath = process.argv[2] ?? process.env.SPARQ_MODEL ?? "../shared/models/gutenberg-llama-57m-d128-q8_0.gguf";
const prompt = process.argv[3] ?? "The old man looked at the sea and";

const llama = await getSparqLlama();
const model = await llama.loadModel({modelPath});

for (const sparq of [false, {ratio: 8, layers: "1-"}] as const) {
    const context = await createSparqContext(model, {contextSize: 2048, sparq});
    const completion = new LlamaCompletion({contextSequence: context.getSequence()});
    const started = performance.now();
    const text = await completion.generateCompletion(prompt, {maxTokens: 48, temperature: 0});
    const seconds = (performance.now() - started) / 1000;
    const layers = getSparq(context).layers.filter((layer) => layer.enabled).length;
    console.log(`${sparq ? `SparQ 8x on ${layers} layers` : "dense"} (${seconds.toFixed(2)} s): ${prompt}${text}\n`);
    await context.dispose();
}
await llama.dispose();
