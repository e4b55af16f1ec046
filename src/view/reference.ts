import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CanvasAssembler } from '../decode/canvas_assembler.ts';
import type { ViewReference } from './search.ts';

/**
 * A package's view reference (manifest `frame.reference`): its mean in-world picture in grey at
 * the picture's own pixel aspect, written by the toolkit (`cli view-reference`). What the view
 * search looks for on a streamer's canvas. The one rule for the block: the manifest schema and
 * the config loader both parse it with this.
 */
export const referenceSchema = z.object({
  /** The PGM file, relative to the package (the config resolves it). */
  file: z.string().min(1),
  /** Width / height of the picture on the canvases it was recorded from. */
  aspect: z.number().gt(0.1).lt(10),
  /** [w, h] in pixels of the crop the package was trained on (packages trained on a view). */
  native: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
}).passthrough();

export type ReferenceSpec = Pick<z.output<typeof referenceSchema>, 'file' | 'aspect' | 'native'>;

/** Loads the reference picture a (parsed) spec names; throws with the file and what is wrong. */
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
  return { grey: { width: p.width, height: p.height, data: Float32Array.from(p.data) }, aspect: spec.aspect, ...(spec.native ? { native: spec.native } : {}) };
}
