import {afterAll, beforeAll, describe, expect, it} from "vitest";
import type {Llama, LlamaModel, Token} from "node-llama-cpp";
import {getSparqLlama} from "../../src/load.js";
import {createSparqContext, getModelAttentionShape} from "../../src/sparq/context.js";
import {withBos} from "../../src/eval/data.js";
import {greedyForSettings} from "../../src/eval/generation.js";
import {decodeLogits, decodeLogProbs} from "../../src/eval/logits.js";
import {logProbability} from "../../src/eval/metrics.js";
import {parseSettingsList, resolveEvalSettings} from "../../src/eval/settings-list.js";
import {stories260K} from "../helpers.js";

const story = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. " +
    "One day, she saw a big red ball under a tree. She ran to the ball and kicked it very hard. The ball flew over the fence. " +
    "Lily was sad because she could not get the ball back. Her mom came and said, \"Don't worry, Lily. We can buy a new ball.\" " +
    "Lily smiled and hugged her mom. They went to the store and bought a blue ball. Lily played with the blue ball all day.";

describe("eval decoding on the real TinyStories model", () => {
    let llama: Llama;
    let model: LlamaModel;
    let tokens: Token[];
    beforeAll(async () => {
        llama = await getSparqLlama({build: "never"});
        model = await llama.loadModel({modelPath: stories260K});
        tokens = withBos(model, model.tokenize(story));
    });
    afterAll(async () => {
        await model?.dispose();
        await llama?.dispose();
    });

    it("decodeLogProbs gives the log-softmax and argmax of decodeLogits' full logits", async () => {
        const prefill = 40;
        for (const sparq of [false, {ratio: 4}] as const) {
            const context = await createSparqContext(model, {contextSize: 256, sparq});
            try {
                const full = await decodeLogits(context, tokens, prefill);
                const scores = await decodeLogProbs(context, tokens, prefill);
                expect(scores.logProbs.length).toBe(tokens.length - prefill);
                for (let i = 0; i < scores.logProbs.length; i++) {
                    expect(scores.logProbs[i]).toBeCloseTo(logProbability(full[i]!, tokens[prefill + i]!), 4);
                    const logits = full[i]!;
                    expect(logits[scores.argmax[i]!]).toBe(Math.max(...logits));
                }
            } finally {
                await context.dispose();
            }
        }
    });

    it("a shared dense prefill with settings switched after it gives what a fresh context per setting gives", async () => {
        const settings = resolveEvalSettings(parseSettingsList("dense,ratio:4,r2k8,ratio:2/no-realloc"), getModelAttentionShape(model));
        const prompt = {context: tokens.slice(0, 60), question: tokens.slice(60, 70)};
        const context = await createSparqContext(model, {contextSize: 256});
        let shared;
        try {
            shared = await greedyForSettings(context, settings, prompt, {maxTokens: 16});
        } finally {
            await context.dispose();
        }
        // the reference: a fresh context with the setting applied from the start, fed the same way by hand
        const generated: Token[][] = [];
        const argmax = (logits: Map<Token, number> | undefined) => {
            let best: Token | null = null;
            for (const [token, logit] of logits ?? [])
                if (best == null || logit > logits!.get(best)!)
                    best = token;
            return best!;
        };
        for (const setting of settings) {
            const fresh = await createSparqContext(model, {contextSize: 256, sparq: setting.sparq});
            try {
                const sequence = fresh.getSequence();
                await sequence.controlledEvaluate([...prompt.context]);
                let next: Token | null = null;
                for (const token of prompt.question)
                    next = argmax((await sequence.controlledEvaluate([[token, {generateNext: {logits: true}}]]))[0]?.next.logits);
                const out: Token[] = [];
                while (out.length < 16) {
                    out.push(next!);
                    next = argmax((await sequence.controlledEvaluate([[next!, {generateNext: {logits: true}}]]))[0]?.next.logits);
                }
                generated.push(out);
            } finally {
                await fresh.dispose();
            }
        }
        expect(shared.results.map((r) => r.tokens)).toEqual(generated);
        // SparQ changes something at these settings, or the comparison would prove nothing
        expect(new Set(generated.map((g) => g.join(","))).size).toBeGreaterThan(1);
        // decode steps: 10 question tokens + 15 generated tokens fed back, at KV lengths 61..85
        expect(shared.results[0]!.stepLengths).toEqual(Array.from({length: 25}, (_, i) => 61 + i));
    });
});
