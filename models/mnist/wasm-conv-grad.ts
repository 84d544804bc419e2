/**
 * Lets TF.js's wasm backend train convolutions.
 *
 * @tensorflow/tfjs-backend-wasm 4.22 has no `Conv2DBackpropFilter` kernel, so the gradient of a
 * Conv2D's kernel throws there (measured: "Kernel 'Conv2DBackpropFilter' not registered for backend
 * 'wasm'"). Its `Conv3DBackpropFilterV2` could stand in, but gives wrong results for strides > 1
 * (measured against the cpu backend and a hand-written loop). This kernel computes the filter
 * gradient with the backend's own fast (XNNPACK) Conv2D instead, swapping the batch and channel axes:
 *
 *   dW[kh, kw, ci, co] = Σ_n,oh,ow  x[n, oh·s + kh − pad, ow·s + kw − pad, ci] · dy[n, oh, ow, co]
 *                      = conv2d(x as [ci, H, W, n], dy as [oh, ow, n, co], stride 1, dilation s)
 *
 * then transposes [ci, kh, kw, co] → [kh, kw, ci, co]. Checked against the cpu backend for
 * valid/same padding, kernel sizes 1–5 and strides 1–3 (max diff 2e-5).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

type KernelFn = (args: { inputs: Record<string, tf.TensorInfo>; backend: unknown; attrs: Record<string, unknown> }) => tf.TensorInfo;

interface FilterGradAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/** Register the wasm Conv2DBackpropFilter kernel (once). Call before training on the wasm backend. */
export function registerWasmConv2DFilterGrad(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  const kernel = (name: string): KernelFn => {
    const k = tf.getKernel(name, 'wasm');
    if (!k) throw new Error(`the wasm backend has no '${name}' kernel`);
    return k.kernelFunc as unknown as KernelFn;
  };
  const transpose = kernel('Transpose');
  const conv2d = kernel('Conv2D');
  const slice = kernel('Slice');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as unknown as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as FilterGradAttrs;
      if (dataFormat !== 'NHWC') throw new Error(`Conv2DBackpropFilter (wasm shim): dataFormat ${dataFormat} is not supported`);
      const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode);
      const { top, left } = info.padInfo;
      const [n, h, w, c] = x.shape;
      const [, oh, ow] = dy.shape;
      const [kh, kw] = filterShape;
      // Padding at the bottom/right that makes the output exactly kh × kw; negative means crop x.
      const bottom = kh + (oh - 1) * info.strideHeight - h - top;
      const right = kw + (ow - 1) * info.strideWidth - w - left;
      const temps: tf.TensorInfo[] = [];
      const run = (fn: KernelFn, ins: Record<string, tf.TensorInfo>, at: Record<string, unknown>): tf.TensorInfo => {
        const out = fn({ inputs: ins, backend, attrs: at });
        temps.push(out);
        return out;
      };
      let xin = x;
      if (bottom < 0 || right < 0) {
        xin = run(slice, { x }, { begin: [0, 0, 0, 0], size: [n, h + Math.min(bottom, 0), w + Math.min(right, 0), c] });
      }
      const xt = run(transpose, { x: xin }, { perm: [3, 1, 2, 0] });
      const dyt = run(transpose, { x: dy }, { perm: [1, 2, 0, 3] });
      const g = run(conv2d, { x: xt, filter: dyt }, {
        strides: 1,
        dilations: [info.strideHeight, info.strideWidth],
        pad: [[0, 0], [top, Math.max(bottom, 0)], [left, Math.max(right, 0)], [0, 0]],
        dataFormat: 'NHWC',
      });
      const out = transpose({ inputs: { x: g }, backend, attrs: { perm: [1, 2, 0, 3] } });
      for (const t of temps) (backend as { disposeData(id: object): void }).disposeData(t.dataId);
      return out;
    },
  });
}
