/**
 * A small GGUF v3 writer and the ggml tensor encodings it needs (f32, f16, q8_0, q4_0).
 *
 * Why hand-written: node-llama-cpp only reads GGUF, and `@huggingface/gguf` serializes the
 * header and metadata but not tensor infos, so neither can produce a new model file.
 *
 * File layout (see ggml/include/gguf.h in llama.cpp):
 *   magic "GGUF" | version u32 | tensor count u64 | metadata count u64
 *   | metadata key/values | tensor infos | padding to `general.alignment`
 *   | tensor data, each tensor starting on an alignment boundary.
 * All numbers are little-endian.
 */
import fs from "node:fs/promises";
import os from "node:os";

/** Value type ids from gguf.h `enum gguf_type`. */
const ggufValueTypeIds = {
    u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12
} as const;

/** A GGUF metadata value type that is not an array. */
export type GgufScalarType = Exclude<keyof typeof ggufValueTypeIds, "array">;

/** The numeric GGUF metadata value types. */
export type GgufNumericType = Exclude<GgufScalarType, "bool" | "string">;

/** A single (non-array) typed GGUF metadata value. */
export type GgufScalarValue =
    | {readonly type: "string", readonly value: string}
    | {readonly type: "bool", readonly value: boolean}
    | {readonly type: GgufNumericType, readonly value: number | bigint};

/**
 * A typed GGUF metadata array; every item has `itemType`. Arrays of arrays are part of the format
 * (and node-llama-cpp reads them), but llama.cpp's own loader rejects them.
 */
export type GgufArrayValue =
    | {readonly type: "array", readonly itemType: "string", readonly value: readonly string[]}
    | {readonly type: "array", readonly itemType: "bool", readonly value: readonly boolean[]}
    | {readonly type: "array", readonly itemType: GgufNumericType, readonly value: readonly (number | bigint)[]}
    | {readonly type: "array", readonly itemType: "array", readonly value: readonly GgufArrayValue[]};

/** Any typed GGUF metadata value. */
export type GgufMetadataValue = GgufScalarValue | GgufArrayValue;

/** One metadata key/value; a file's metadata is an ordered list of these with unique keys. */
export type GgufMetadataEntry = {readonly key: string} & GgufMetadataValue;

/** The ggml tensor types this writer can encode. */
export type GgmlTensorType = "f32" | "f16" | "q8_0" | "q4_0";

/** Storage layout of a ggml tensor type: ids from ggml.h `enum ggml_type`, block sizes from ggml-common.h. */
export const ggmlTensorTypeTraits: Readonly<Record<GgmlTensorType, {
    /** The `ggml_type` id written into tensor infos. */
    readonly id: number,
    /** Values per block; each row length must be a multiple of it. */
    readonly blockSize: number,
    /** Bytes per block. */
    readonly bytesPerBlock: number
}>> = {
    f32: {id: 0, blockSize: 1, bytesPerBlock: 4},
    f16: {id: 1, blockSize: 1, bytesPerBlock: 2},
    q4_0: {id: 2, blockSize: 32, bytesPerBlock: 2 + 16},
    q8_0: {id: 8, blockSize: 32, bytesPerBlock: 2 + 32}
};

/** The alignment llama.cpp assumes when `general.alignment` is absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Longest tensor name ggml accepts (GGML_MAX_NAME minus the terminating NUL). */
const GGML_MAX_TENSOR_NAME_BYTES = 63;

/** A tensor to be written: its name, ggml dimensions (fastest-varying first, like `ne`) and type. */
export interface GgufTensorDescriptor {
    readonly name: string,
    /** ggml order: `dimensions[0]` is the row length (ne0). */
    readonly dimensions: readonly number[],
    readonly type: GgmlTensorType
}

/** A tensor with its position in the file, as planned by {@link GgufStreamWriter}. */
export interface GgufPlannedTensor extends GgufTensorDescriptor {
    readonly elementCount: number,
    /** Exact size of the tensor's data (without alignment padding). */
    readonly byteSize: number,
    /** Absolute offset of the tensor's data in the file. */
    readonly fileOffset: number
}

/** Number of bytes `elementCount` values occupy in the given tensor type. */
export function ggmlTensorByteSize(type: GgmlTensorType, elementCount: number): number {
    const {blockSize, bytesPerBlock} = ggmlTensorTypeTraits[type];
    if (elementCount % blockSize !== 0)
        throw new Error(`A ${type} tensor needs a multiple of ${blockSize} values, got ${elementCount}`);

    return (elementCount / blockSize) * bytesPerBlock;
}

/**
 * Writes a GGUF file whose metadata and tensor shapes are known up front, streaming the tensor data.
 *
 * The header is written on creation; tensors must then be written in the order given, each by
 * {@link writeTensor}. The file is built under a temporary name and only renamed to its final path
 * by {@link close}, so an interrupted run never leaves a file that looks complete.
 */
export class GgufStreamWriter {
    /** The tensors in file order, with their offsets. */
    public readonly tensors: readonly GgufPlannedTensor[];
    /** Size of the finished file in bytes. */
    public readonly fileSize: number;
    /** Final path of the file. */
    public readonly path: string;

    private readonly _temporaryPath: string;
    private readonly _file: fs.FileHandle;
    private _nextTensorIndex = 0;
    private _finished = false;

    private constructor(path: string, temporaryPath: string, file: fs.FileHandle, tensors: GgufPlannedTensor[], fileSize: number) {
        this.path = path;
        this._temporaryPath = temporaryPath;
        this._file = file;
        this.tensors = tensors;
        this.fileSize = fileSize;
    }

    /**
     * Create the file and write its header.
     * `general.alignment` is added to the metadata by the writer; do not pass it yourself.
     */
    public static async create(path: string, {metadata, tensors, alignment = GGUF_DEFAULT_ALIGNMENT}: {
        readonly metadata: readonly GgufMetadataEntry[],
        readonly tensors: readonly GgufTensorDescriptor[],
        readonly alignment?: number
    }): Promise<GgufStreamWriter> {
        if (os.endianness() !== "LE")
            throw new Error("GGUF tensor data is written from host memory, which must be little-endian");

        const {header, plannedTensors, fileSize} = buildGgufHeader(metadata, tensors, alignment);
        const temporaryPath = `${path}.partial-${process.pid}`;
        const file = await fs.open(temporaryPath, "w");
        try {
            await writeFully(file, header, 0);
        } catch (error) {
            await file.close();
            await fs.rm(temporaryPath, {force: true});
            throw error;
        }

        return new GgufStreamWriter(path, temporaryPath, file, plannedTensors, fileSize);
    }

    /**
     * Write the data of the next tensor, given as consecutive chunks of encoded bytes whose sizes add
     * up to the tensor's size.
     *
     * One chunk is kept in flight while the next one is requested, so a producer may recycle two
     * buffers alternately, but must not overwrite the buffer it yielded just before.
     */
    public async writeTensor(name: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
        const tensor = this.tensors[this._nextTensorIndex];
        if (tensor == null || this._finished)
            throw new Error(`Cannot write tensor "${name}": all tensors were already written`);
        if (tensor.name !== name)
            throw new Error(`Tensors must be written in order: expected "${tensor.name}", got "${name}"`);

        let position = tensor.fileOffset;
        const end = tensor.fileOffset + tensor.byteSize;
        let pendingWrite: Promise<void> = Promise.resolve();
        try {
            for await (const chunk of chunks) {
                if (position + chunk.byteLength > end)
                    throw new Error(`Tensor "${name}" got more than its ${tensor.byteSize} bytes`);

                await pendingWrite;
                pendingWrite = writeFully(this._file, chunk, position);
                position += chunk.byteLength;
            }
            await pendingWrite;
        } catch (error) {
            // let a write in flight settle before the caller aborts and closes the file
            await pendingWrite.catch(() => undefined);
            throw error;
        }

        if (position !== end)
            throw new Error(`Tensor "${name}" got ${position - tensor.fileOffset} bytes, expected ${tensor.byteSize}`);

        this._nextTensorIndex++;
    }

    /** Finish the file (including the padding after the last tensor) and move it to its final path. */
    public async close(): Promise<void> {
        if (this._finished)
            return;

        const missing = this.tensors.slice(this._nextTensorIndex).map((tensor) => tensor.name);
        if (missing.length > 0) {
            await this.abort();
            throw new Error(`GGUF file closed before all tensors were written; missing: ${missing.join(", ")}`);
        }

        this._finished = true;
        await this._file.truncate(this.fileSize);
        await this._file.close();
        await fs.rename(this._temporaryPath, this.path);
    }

    /** Discard the partially written file. */
    public async abort(): Promise<void> {
        if (this._finished)
            return;

        this._finished = true;
        await this._file.close();
        await fs.rm(this._temporaryPath, {force: true});
    }
}

/**
 * Serialize the GGUF header (everything before the tensor data, including the final padding)
 * and compute where each tensor's data goes.
 */
export function buildGgufHeader(
    metadata: readonly GgufMetadataEntry[],
    tensors: readonly GgufTensorDescriptor[],
    alignment: number = GGUF_DEFAULT_ALIGNMENT
): {header: Uint8Array, plannedTensors: GgufPlannedTensor[], fileSize: number} {
    if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0)
        throw new Error(`GGUF alignment must be a positive multiple of 8, got ${alignment}`);

    const allMetadata: GgufMetadataEntry[] = [...metadata, {key: "general.alignment", type: "u32", value: alignment}];
    assertUniqueKeys(allMetadata);

    const sink = new ByteSink();
    sink.bytes(new TextEncoder().encode("GGUF"));
    sink.u32(3);
    sink.u64(tensors.length);
    sink.u64(allMetadata.length);
    for (const entry of allMetadata) {
        sink.string(entry.key);
        sink.u32(ggufValueTypeIds[entry.type]);
        writeValue(sink, entry, entry.key);
    }

    const relativeOffsets: number[] = [];
    let dataSize = 0;
    const seenNames = new Set<string>();
    for (const tensor of tensors) {
        validateTensorDescriptor(tensor, seenNames);
        const elementCount = tensor.dimensions.reduce((product, dimension) => product * dimension, 1);
        relativeOffsets.push(dataSize);
        dataSize = alignUp(dataSize + ggmlTensorByteSize(tensor.type, elementCount), alignment);

        sink.string(tensor.name);
        sink.u32(tensor.dimensions.length);
        for (const dimension of tensor.dimensions)
            sink.u64(dimension);
        sink.u32(ggmlTensorTypeTraits[tensor.type].id);
        sink.u64(relativeOffsets[relativeOffsets.length - 1]!);
    }

    const dataStart = alignUp(sink.length, alignment);
    sink.zeros(dataStart - sink.length);

    const plannedTensors = tensors.map((tensor, index): GgufPlannedTensor => {
        const elementCount = tensor.dimensions.reduce((product, dimension) => product * dimension, 1);
        return {
            name: tensor.name,
            dimensions: [...tensor.dimensions],
            type: tensor.type,
            elementCount,
            byteSize: ggmlTensorByteSize(tensor.type, elementCount),
            fileOffset: dataStart + relativeOffsets[index]!
        };
    });

    return {header: sink.toBytes(), plannedTensors, fileSize: dataStart + dataSize};
}

function validateTensorDescriptor(tensor: GgufTensorDescriptor, seenNames: Set<string>): void {
    if (seenNames.has(tensor.name))
        throw new Error(`Duplicate tensor name "${tensor.name}"`);
    seenNames.add(tensor.name);

    if (Buffer.byteLength(tensor.name, "utf8") > GGML_MAX_TENSOR_NAME_BYTES)
        throw new Error(`Tensor name "${tensor.name}" is longer than ${GGML_MAX_TENSOR_NAME_BYTES} bytes`);

    // ggml tensors have at most 4 dimensions (GGML_MAX_DIMS)
    if (tensor.dimensions.length < 1 || tensor.dimensions.length > 4)
        throw new Error(`Tensor "${tensor.name}" must have 1 to 4 dimensions, got ${tensor.dimensions.length}`);
    if (!tensor.dimensions.every((dimension) => Number.isSafeInteger(dimension) && dimension > 0))
        throw new Error(`Tensor "${tensor.name}" has invalid dimensions [${tensor.dimensions.join(", ")}]`);

    const {blockSize} = ggmlTensorTypeTraits[tensor.type];
    if (tensor.dimensions[0]! % blockSize !== 0)
        throw new Error(
            `Tensor "${tensor.name}" cannot be ${tensor.type}: its row length ${tensor.dimensions[0]} is not a multiple of ${blockSize}`
        );
}

function assertUniqueKeys(metadata: readonly GgufMetadataEntry[]): void {
    const seen = new Set<string>();
    for (const {key} of metadata) {
        if (seen.has(key))
            throw new Error(`Duplicate GGUF metadata key "${key}"`);
        seen.add(key);
    }
}

function writeValue(sink: ByteSink, value: GgufMetadataValue, key: string): void {
    switch (value.type) {
        case "string": sink.string(value.value); return;
        case "bool": sink.u8(value.value ? 1 : 0); return;
        case "array": {
            sink.u32(ggufValueTypeIds[value.itemType]);
            sink.u64(value.value.length);
            // items carry no type tag of their own; an inner array starts with its item type and length
            for (const item of value.value)
                writeValue(sink, toTypedItem(value.itemType, item, key), key);
            return;
        }
        default: writeNumber(sink, value.type, value.value, key);
    }
}

/** Pair an array item with its array's declared item type, checking it matches. */
function toTypedItem(itemType: GgufArrayValue["itemType"], item: unknown, key: string): GgufMetadataValue {
    if (itemType === "array") {
        if (typeof item !== "object" || item == null || (item as GgufMetadataValue).type !== "array")
            throw new Error(`Metadata "${key}": an array of arrays holds a non-array item`);
        return item as GgufArrayValue;
    }
    if (itemType === "string" && typeof item === "string")
        return {type: itemType, value: item};
    if (itemType === "bool" && typeof item === "boolean")
        return {type: itemType, value: item};
    if (itemType !== "string" && itemType !== "bool" && (typeof item === "number" || typeof item === "bigint"))
        return {type: itemType, value: item};

    throw new Error(`Metadata "${key}": array of ${itemType} holds a ${typeof item} item`);
}

const integerRanges: Readonly<Record<Exclude<GgufNumericType, "f32" | "f64">, readonly [bigint, bigint]>> = {
    u8: [0n, 0xffn], i8: [-0x80n, 0x7fn],
    u16: [0n, 0xffffn], i16: [-0x8000n, 0x7fffn],
    u32: [0n, 0xffff_ffffn], i32: [-0x8000_0000n, 0x7fff_ffffn],
    u64: [0n, 0xffff_ffff_ffff_ffffn], i64: [-0x8000_0000_0000_0000n, 0x7fff_ffff_ffff_ffffn]
};

function writeNumber(sink: ByteSink, type: GgufNumericType, value: number | bigint, key: string): void {
    if (type === "f32" || type === "f64") {
        if (type === "f32") sink.f32(Number(value));
        else sink.f64(Number(value));
        return;
    }

    if (typeof value === "number" && !Number.isSafeInteger(value))
        throw new Error(`Metadata "${key}": ${type} value ${value} is not a safe integer (use a bigint)`);
    const integer = BigInt(value);
    const [min, max] = integerRanges[type];
    if (integer < min || integer > max)
        throw new Error(`Metadata "${key}": value ${integer} is out of range for ${type}`);

    switch (type) {
        case "u8": sink.u8(Number(integer)); break;
        case "i8": sink.view(1).setInt8(0, Number(integer)); break;
        case "u16": sink.view(2).setUint16(0, Number(integer), true); break;
        case "i16": sink.view(2).setInt16(0, Number(integer), true); break;
        case "u32": sink.u32(Number(integer)); break;
        case "i32": sink.view(4).setInt32(0, Number(integer), true); break;
        case "u64": sink.view(8).setBigUint64(0, integer, true); break;
        case "i64": sink.view(8).setBigInt64(0, integer, true); break;
    }
}

/** A growable little-endian byte buffer for building the header. */
class ByteSink {
    private _buffer = new Uint8Array(1 << 16);
    private _length = 0;
    private readonly _textEncoder = new TextEncoder();

    public get length(): number {
        return this._length;
    }

    /** Reserve `byteCount` bytes and return a view over them to write into. */
    public view(byteCount: number): DataView {
        this._reserve(byteCount);
        const view = new DataView(this._buffer.buffer, this._buffer.byteOffset + this._length, byteCount);
        this._length += byteCount;
        return view;
    }

    public u8(value: number): void { this.view(1).setUint8(0, value); }
    public u32(value: number): void { this.view(4).setUint32(0, value, true); }
    public u64(value: number | bigint): void { this.view(8).setBigUint64(0, BigInt(value), true); }
    public f32(value: number): void { this.view(4).setFloat32(0, value, true); }
    public f64(value: number): void { this.view(8).setFloat64(0, value, true); }

    /** A GGUF string: u64 byte length, then UTF-8 bytes without a terminator. */
    public string(value: string): void {
        const encoded = this._textEncoder.encode(value);
        this.u64(encoded.byteLength);
        this.bytes(encoded);
    }

    public bytes(bytes: Uint8Array): void {
        this._reserve(bytes.byteLength);
        this._buffer.set(bytes, this._length);
        this._length += bytes.byteLength;
    }

    public zeros(byteCount: number): void {
        this._reserve(byteCount);
        this._buffer.fill(0, this._length, this._length + byteCount);
        this._length += byteCount;
    }

    public toBytes(): Uint8Array {
        return this._buffer.subarray(0, this._length);
    }

    private _reserve(byteCount: number): void {
        if (this._length + byteCount <= this._buffer.byteLength)
            return;

        const grown = new Uint8Array(Math.max(this._buffer.byteLength * 2, this._length + byteCount));
        grown.set(this._buffer.subarray(0, this._length));
        this._buffer = grown;
    }
}

async function writeFully(file: fs.FileHandle, bytes: Uint8Array, position: number): Promise<void> {
    let written = 0;
    while (written < bytes.byteLength) {
        const {bytesWritten} = await file.write(bytes, written, bytes.byteLength - written, position + written);
        written += bytesWritten;
    }
}

function alignUp(value: number, alignment: number): number {
    return Math.ceil(value / alignment) * alignment;
}

// ---------------------------------------------------------------------------------------------
// Tensor data encodings. These follow ggml's reference quantizers (quantize_row_q8_0_ref and
// quantize_row_q4_0_ref in ggml/src/ggml-quants.c) step by step in float32 arithmetic, so the
// bytes match what llama.cpp itself would produce for the same float32 input.
// ---------------------------------------------------------------------------------------------

/**
 * Convert a number to IEEE half-precision bits, rounding to nearest-even like ggml's
 * GGML_FP32_TO_FP16 (the value is first rounded to float32, as in C).
 */
export function float32ToFloat16Bits(value: number): number {
    float32Scratch[0] = value;
    return float32BitsToFloat16Bits(uint32Scratch[0]!);
}

const float32Scratch = new Float32Array(1);
const uint32Scratch = new Uint32Array(float32Scratch.buffer);

function float32BitsToFloat16Bits(bits: number): number {
    const sign = (bits >>> 16) & 0x8000;
    const exponent = (bits >>> 23) & 0xff;
    const mantissa = bits & 0x7f_ffff;

    if (exponent === 0xff) // infinity stays infinity; NaN stays a (quiet) NaN
        return sign | 0x7c00 | (mantissa !== 0 ? 0x200 | (mantissa >>> 13) : 0);

    // re-bias the exponent from float32 (127) to float16 (15)
    const halfExponent = exponent - 127 + 15;
    if (halfExponent >= 0x1f)
        return sign | 0x7c00;

    if (halfExponent >= 1) {
        // drop 13 mantissa bits; a carry out of the mantissa correctly bumps the exponent (up to infinity)
        const truncated = (halfExponent << 10) | (mantissa >>> 13);
        return sign | roundHalfToEven(truncated, mantissa & 0x1fff, 13);
    }

    // float16 subnormal: the value in units of 2^-24, shifted right by 14 - halfExponent (>= 14)
    const shift = 14 - halfExponent;
    if (shift > 24) // below half of the smallest subnormal
        return sign;

    const significand = mantissa | 0x80_0000;
    const truncated = significand >>> shift;
    return sign | roundHalfToEven(truncated, significand & ((1 << shift) - 1), shift);
}

function roundHalfToEven(truncated: number, droppedBits: number, droppedBitCount: number): number {
    const half = 1 << (droppedBitCount - 1);
    if (droppedBits > half || (droppedBits === half && (truncated & 1) === 1))
        return truncated + 1;
    return truncated;
}

/**
 * Encode float32 values into a tensor type's bytes, in place into `out` when given.
 * `values.length` must be a multiple of the type's block size.
 */
export function encodeTensorData(type: GgmlTensorType, values: Float32Array, out?: Uint8Array): Uint8Array {
    if (os.endianness() !== "LE")
        throw new Error("Tensor data is encoded from host memory, which must be little-endian");

    const byteSize = ggmlTensorByteSize(type, values.length);
    const target = out == null ? new Uint8Array(byteSize) : out.subarray(0, byteSize);
    if (target.byteLength < byteSize)
        throw new Error(`Output buffer of ${out?.byteLength} bytes is too small for ${byteSize} bytes of ${type}`);

    switch (type) {
        case "f32": target.set(new Uint8Array(values.buffer, values.byteOffset, byteSize)); break;
        case "f16": encodeF16(values, target); break;
        case "q8_0": encodeQ8_0(values, target); break;
        case "q4_0": encodeQ4_0(values, target); break;
    }
    return target;
}

function encodeF16(values: Float32Array, out: Uint8Array): void {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    if (out.byteOffset % 2 === 0) {
        const halves = new Uint16Array(out.buffer, out.byteOffset, values.length);
        for (let i = 0; i < bits.length; i++)
            halves[i] = float32BitsToFloat16Bits(bits[i]!);
    } else {
        for (let i = 0; i < bits.length; i++)
            writeUint16(out, i * 2, float32BitsToFloat16Bits(bits[i]!));
    }
}

/** q8_0 block: f16 scale d = max|x| / 127, then 32 int8 values round(x / d). */
function encodeQ8_0(values: Float32Array, out: Uint8Array): void {
    const {blockSize, bytesPerBlock} = ggmlTensorTypeTraits.q8_0;
    const f32 = Math.fround;

    for (let block = 0; block * blockSize < values.length; block++) {
        const start = block * blockSize;
        const outOffset = block * bytesPerBlock;

        let absMax = 0;
        for (let j = 0; j < blockSize; j++) {
            const magnitude = Math.abs(values[start + j]!);
            if (magnitude > absMax)
                absMax = magnitude;
        }

        const scale = f32(absMax / 127);
        const inverseScale = scale !== 0 ? f32(1 / scale) : 0;
        writeUint16(out, outOffset, float32ToFloat16Bits(scale));

        for (let j = 0; j < blockSize; j++)
            out[outOffset + 2 + j] = roundHalfAwayFromZero(f32(values[start + j]! * inverseScale)) & 0xff;
    }
}

/**
 * q4_0 block: f16 scale d = (the value with the largest magnitude) / -8, then 32 nibbles
 * q = min(15, trunc(x / d + 8.5)); byte j holds element j in its low nibble and element j + 16 in its high nibble.
 */
function encodeQ4_0(values: Float32Array, out: Uint8Array): void {
    const {blockSize, bytesPerBlock} = ggmlTensorTypeTraits.q4_0;
    const halfBlock = blockSize / 2;
    const f32 = Math.fround;

    for (let block = 0; block * blockSize < values.length; block++) {
        const start = block * blockSize;
        const outOffset = block * bytesPerBlock;

        // the first value of largest magnitude, keeping its sign (so the scale is negative for positive peaks)
        let absMax = 0;
        let signedMax = 0;
        for (let j = 0; j < blockSize; j++) {
            const value = values[start + j]!;
            if (absMax < Math.abs(value)) {
                absMax = Math.abs(value);
                signedMax = value;
            }
        }

        const scale = f32(signedMax / -8);
        const inverseScale = scale !== 0 ? f32(1 / scale) : 0;
        writeUint16(out, outOffset, float32ToFloat16Bits(scale));

        for (let j = 0; j < halfBlock; j++) {
            // `| 0` truncates toward zero like C's (int8_t) cast; the operands are in [0, 16.5]
            const low = f32(f32(values[start + j]! * inverseScale) + 8.5) | 0;
            const high = f32(f32(values[start + halfBlock + j]! * inverseScale) + 8.5) | 0;
            out[outOffset + 2 + j] = Math.min(15, low) | (Math.min(15, high) << 4);
        }
    }
}

function writeUint16(out: Uint8Array, offset: number, value: number): void {
    out[offset] = value & 0xff;
    out[offset + 1] = value >>> 8;
}

/**
 * C's roundf for |value| < 2^31: halfway cases go away from zero (Math.round would send -2.5 to -2).
 * For float32 inputs, adding 0.5 in float64 cannot round across an integer, and `| 0` truncates;
 * this is ~2x faster than Math.round.
 */
function roundHalfAwayFromZero(value: number): number {
    return (value < 0 ? value - 0.5 : value + 0.5) | 0;
}
