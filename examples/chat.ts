// A chat session whose context uses SparQ attention: node-llama-cpp's LlamaChatSession, unchanged.
//   npx tsx examples/chat.ts [model.gguf]
import readline from "node:readline/promises";
import {createSparqContext, getSparq, getSparqLlama, LlamaChatSession} from "sparq-llama";

const modelPath = process.argv[2] ?? process.env.SPARQ_MODEL;
if (modelPath == null)
    throw new Error("pass a chat model: npx tsx examples/chat.ts /path/to/model.gguf (or set SPARQ_MODEL)");

const llama = await getSparqLlama();
const model = await llama.loadModel({modelPath});
const context = await createSparqContext(model, {contextSize: 8192, sparq: {ratio: 8, layers: {allButFirst: 2}}});
const session = new LlamaChatSession({contextSequence: context.getSequence()});
const terminal = readline.createInterface({input: process.stdin, output: process.stdout});

for (;;) {
    const question = await terminal.question("> ");
    if (question.trim() === "")
        break;
    await session.prompt(question, {onTextChunk: (chunk) => process.stdout.write(chunk)});
    const sparqSteps = getSparq(context).layers.reduce((sum, layer) => sum + layer.opCount, 0);
    console.log(`\n[SparQ decode steps so far, summed over layers: ${sparqSteps}]`);
}
terminal.close();
await llama.dispose();
