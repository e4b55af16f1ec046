import { readFileSync } from 'node:fs';

/**
 * Reads the toolkit's cached frames (`np.save` of uint8 [T, H, W, 3]): the frames exactly as
 * the service's decode chain produced them. Only what the bench needs: uint8, C order.
 */
export function readFramesNpy(file: string): { frames: Uint8Array[]; height: number; width: number } {
  const buf = readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file} is not a .npy file`);
  const major = buf[6]!;
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  if (!/'descr':\s*'\|u1'/.test(header) || /'fortran_order':\s*True/.test(header)) throw new Error(`${file}: expected uint8 C-order frames, header ${header.trim()}`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)![1]!.split(',').map((x) => x.trim()).filter(Boolean).map(Number);
  const [n, height, width] = shape as [number, number, number];
  const size = height * width * 3;
  const frames: Uint8Array[] = [];
  for (let i = 0; i < n; i++) frames.push(new Uint8Array(buf.buffer, buf.byteOffset + start + i * size, size));
  return { frames, height, width };
}
