// TF.js as this project uses it: core ops and layers only. The umbrella
// '@tensorflow/tfjs' also loads the converter, data, webgl and cpu packages:
// about 22 MB more per thread, and every embed or training worker is a thread.
export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';
