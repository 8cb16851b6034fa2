/** Inputs of the eval tasks: text files, tokenisation helpers, SQuAD v1.1 files. */
import fs from "node:fs/promises";
import type {LlamaModel, Token} from "node-llama-cpp";

export async function readTextFile(file: string): Promise<string> {
    try {
        return await fs.readFile(file, "utf8");
    } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT")
            throw new Error(`text file not found: ${file}`);
        throw err;
    }
}

/** `tokens` with the model's BOS in front when the model wants one. */
export function withBos(model: LlamaModel, tokens: readonly Token[]): Token[] {
    const bos = model.tokens.bos;
    return bos != null && model.tokens.shouldPrependBosToken ? [bos, ...tokens] : [...tokens];
}

/**
 * The first `count` tokens of `text` (or all of them, if it has fewer), tokenising only as much of
 * the text as needed (a large file costs seconds to tokenise whole).
 */
export function tokenizePrefix(model: LlamaModel, text: string, count: number): Token[] {
    let chars = Math.max(4096, count * 6);
    for (;;) {
        const slice = text.slice(0, chars);
        const tokens = model.tokenize(slice);
        // the last token of a cut text may be a fragment: keep a margin
        if (slice.length === text.length || tokens.length > count + 8)
            return tokens.slice(0, count);
        chars *= 2;
    }
}

/**
 * Replaces every character that occurs in no piece of the model's vocabulary with a space. For
 * vocabularies without full byte fallback (TinyStories-656K's lacks "=", "(", "#", tab...), whose
 * llama.cpp tokenizer aborts the whole process on such a character. Returns the text and how many
 * characters were replaced.
 */
export function restrictToVocabulary(model: LlamaModel, text: string): {text: string, replaced: number} {
    const pieces = model.fileInfo.metadata.tokenizer?.ggml?.tokens;
    if (!Array.isArray(pieces))
        throw new Error("the model's GGUF metadata lists no vocabulary (tokenizer.ggml.tokens)");
    const known = new Set<string>();
    for (let id = 0; id < pieces.length; id++)
        for (const ch of model.detokenize([id as Token], true))
            known.add(ch);
    let replaced = 0;
    const out = Array.from(text, (ch) => {
        // a space stays (SentencePiece pieces hold it as "▁", which detokenises away on its own)
        if (known.has(ch) || ch === " ")
            return ch;
        replaced++;
        return " ";
    }).join("");
    return {text: out, replaced};
}

export type SquadQuestion = {id: string, question: string, answers: string[]};
export type SquadParagraph = {title: string, context: string, qas: SquadQuestion[]};

/** Reads a SQuAD v1.1 file ({data: [{title, paragraphs: [{context, qas: [{id, question, answers: [{text}]}]}]}]}). */
export async function readSquad(file: string): Promise<SquadParagraph[]> {
    let json: unknown;
    try {
        json = JSON.parse(await readTextFile(file));
    } catch (err) {
        if (err instanceof SyntaxError)
            throw new Error(`${file} is not valid JSON: ${err.message}`);
        throw err;
    }
    const fail = (where: string): never => {
        throw new Error(`${file} is not in SQuAD v1.1 format: ${where}`);
    };
    const data = (json as {data?: unknown})?.data;
    if (!Array.isArray(data))
        fail("no top-level \"data\" array");
    const paragraphs: SquadParagraph[] = [];
    (data as unknown[]).forEach((article, a) => {
        const {title = `article ${a}`, paragraphs: ps} = article as {title?: string, paragraphs?: unknown};
        if (!Array.isArray(ps))
            fail(`data[${a}] has no "paragraphs" array`);
        (ps as unknown[]).forEach((p, i) => {
            const {context, qas} = p as {context?: unknown, qas?: unknown};
            if (typeof context !== "string" || !Array.isArray(qas))
                fail(`data[${a}].paragraphs[${i}] needs a "context" string and a "qas" array`);
            paragraphs.push({
                title: String(title),
                context: context as string,
                qas: (qas as unknown[]).map((qa, q) => {
                    const {id = `${a}.${i}.${q}`, question, answers} = qa as {id?: string, question?: unknown, answers?: unknown};
                    const texts = Array.isArray(answers) ? answers.map((x) => (x as {text?: unknown})?.text) : [];
                    if (typeof question !== "string" || texts.length === 0 || texts.some((t) => typeof t !== "string"))
                        fail(`data[${a}].paragraphs[${i}].qas[${q}] needs a "question" string and "answers" with "text"`);
                    return {id: String(id), question: question as string, answers: texts as string[]};
                })
            });
        });
    });
    if (paragraphs.length === 0)
        fail("no paragraphs");
    return paragraphs;
}

