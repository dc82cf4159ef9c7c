// Structural check of a zstd payload before it is decompressed: exactly one frame, no dictionary, and a block
// count that bounds the output. Pure; it never decompresses. Spec: RFC 8878 §3.1.1.

/** Largest block a zstd frame may contain, compressed or regenerated (RFC 8878 §3.1.1.2.4). */
const ZSTD_BLOCK_MAX_BYTES = 128 * 1024;
const ZSTD_MAGIC = 0xfd2fb528;
const BLOCK_RAW = 0;
const BLOCK_RLE = 1;
const BLOCK_RESERVED = 3;

/**
 * Returns why `payload` is not one well-formed zstd frame that can regenerate exactly `rawLength` bytes, or
 * `undefined` if it is. The decoder we call reads every concatenated frame into an unbounded buffer, so this
 * bounds its output before we call it (zstd bomb, CWE-409): each block regenerates at most 128 KiB, and a frame
 * that holds `rawLength` bytes is allowed 2 · ceil(rawLength / 128 KiB) + 2 blocks — zstd's block splitter cuts
 * blocks short where the data changes character (41 blocks for 4 MiB of bitmaps whose density varies), and a
 * streaming encoder ends with an empty block. The output is thereby limited to 2 · `rawLength` + 512 KiB.
 *
 * @example
 * checkZstdFrame(zstdCompress(raw, 1), raw.length) // → undefined
 */
export function checkZstdFrame(payload: Uint8Array, rawLength: number): string | undefined {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if (payload.length < 6 || view.getUint32(0, true) !== ZSTD_MAGIC) return 'payload is not a zstd frame';
  const descriptor = payload[4]!;
  const contentSizeFlag = descriptor >>> 6;
  const singleSegment = (descriptor >>> 5) & 1;
  const reserved = (descriptor >>> 3) & 1;
  const hasChecksum = (descriptor >>> 2) & 1;
  const dictionaryFlag = descriptor & 3;
  if (reserved !== 0) return 'zstd frame header sets a reserved bit';
  if (dictionaryFlag !== 0) return 'zstd frame needs a dictionary';
  let pos = 5 + (singleSegment ? 0 : 1);
  const contentSizeBytes = contentSizeFlag === 0 ? singleSegment : [1, 2, 4, 8][contentSizeFlag]!;
  if (pos + contentSizeBytes > payload.length) return 'zstd frame header is truncated';
  if (contentSizeBytes > 0) {
    let declared: number;
    if (contentSizeBytes === 1) declared = payload[pos]!;
    else if (contentSizeBytes === 2) declared = view.getUint16(pos, true) + 256;
    else if (contentSizeBytes === 4) declared = view.getUint32(pos, true);
    else declared = Number(view.getBigUint64(pos, true));
    if (declared !== rawLength) return `zstd frame declares ${declared} bytes, the header ${rawLength}`;
  }
  pos += contentSizeBytes;

  const maxBlocks = 2 * Math.ceil(rawLength / ZSTD_BLOCK_MAX_BYTES) + 2;
  let blocks = 0;
  let knownBytes = 0;
  for (let last = 0; last === 0; ) {
    if (pos + 3 > payload.length) return 'zstd frame is truncated';
    const header = payload[pos]! | (payload[pos + 1]! << 8) | (payload[pos + 2]! << 16);
    pos += 3;
    last = header & 1;
    const type = (header >>> 1) & 3;
    const size = header >>> 3;
    if (type === BLOCK_RESERVED) return 'zstd frame has a block of the reserved type';
    if (size > ZSTD_BLOCK_MAX_BYTES) return `zstd block of ${size} bytes exceeds 128 KiB`;
    if (++blocks > maxBlocks) return `zstd frame has more than ${maxBlocks} blocks for ${rawLength} bytes`;
    if (type === BLOCK_RAW || type === BLOCK_RLE) knownBytes += size;
    if (knownBytes > rawLength) return `zstd frame regenerates more than ${rawLength} bytes`;
    pos += type === BLOCK_RLE ? 1 : size;
  }
  pos += hasChecksum ? 4 : 0;
  if (pos !== payload.length) {
    return pos > payload.length ? 'zstd frame is truncated' : `${payload.length - pos} bytes follow the zstd frame`;
  }
  return undefined;
}
