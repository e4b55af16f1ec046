import { readFileSync } from 'node:fs';
import { CanvasAssembler } from '../decode/canvas_assembler.ts';
import type { ViewReference } from './search.ts';

/**
 * A package's view reference (manifest `frame.reference`): its mean in-world picture in grey at
 * the picture's own pixel aspect, written by the toolkit (`cli view-reference`). What the view
 * search looks for on a streamer's canvas.
 */
export interface ReferenceSpec {
  /** The PGM file (the manifest names it relative to the package; the config resolves it). */
  file: string;
  /** Width / height of the picture on the canvases it was recorded from. */
  aspect: number;
  /** [w, h] in pixels of the crop the package was trained on (packages trained on a view). */
  native?: readonly [number, number];
}

/** Loads the reference a manifest names; throws with the file and what is wrong. */
export function loadViewReference(spec: ReferenceSpec): ViewReference {
  const file = spec.file;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new Error(`${file}: cannot read the package's view reference (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); rebuild it with \`cli view-reference\``);
  }
  let pictures;
  try {
    pictures = new CanvasAssembler().push(bytes);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  if (pictures.length !== 1) throw new Error(`${file}: expected one PGM picture, found ${pictures.length}`);
  const p = pictures[0]!;
  if (!(spec.aspect > 0.1 && spec.aspect < 10)) throw new Error(`${file}: aspect ${spec.aspect} is not a picture's width / height`);
  const native = spec.native;
  if (native && !(native.length === 2 && native.every((v) => Number.isInteger(v) && v > 0))) throw new Error(`${file}: native size ${JSON.stringify(native)} is not [w, h] in pixels`);
  return { grey: { width: p.width, height: p.height, data: Float32Array.from(p.data) }, aspect: spec.aspect, ...(native ? { native } : {}) };
}
