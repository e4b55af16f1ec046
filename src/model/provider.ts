/** Where the ONNX sessions run; its own module so onnx.ts and threading.ts can both name it. */
export type Provider = 'cpu' | 'webgpu' | 'cuda';
