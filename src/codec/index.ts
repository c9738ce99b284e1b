export * from './frame.js';
export { encodeFrame, encodeHeader } from './frame-encoder.js';
export { FrameDecoder } from './frame-decoder.js';
