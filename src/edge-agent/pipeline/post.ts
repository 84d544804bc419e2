/** Postprocessing steps over an output's rows of scores, pure. */
import type { TensorData } from '../../runtime/backend.js';
import type { PipelineSpec } from '../../protocol/pipeline.js';

export interface Prediction {
  index: number;
  label?: string;
  score: number;
}

/** One list of predictions per row (the leading dims flattened; scores along the last axis). */
export function postprocess(spec: PipelineSpec, output: TensorData): Prediction[][] {
  const dims = output.dims;
  const width = dims.length ? dims[dims.length - 1] : 1;
  const rows = width ? output.data.length / width : 0;
  const out: Prediction[][] = [];
  for (let r = 0; r < rows; r++) {
    let scores = Array.from({ length: width }, (_, i) => Number(output.data[r * width + i]));
    let picked: Prediction[] | undefined;
    for (const step of spec.postprocess) {
      if (step.op === 'softmax') {
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const sum = e.reduce((a, b) => a + b, 0);
        scores = e.map((x) => x / sum);
      } else if (step.op === 'argmax' || step.op === 'topk') {
        const k = step.op === 'argmax' ? 1 : Math.min(step.k, width);
        picked = scores
          .map((score, index) => ({ index, score }))
          .sort((a, b) => b.score - a.score || a.index - b.index)
          .slice(0, k);
      } else if (step.op === 'threshold') {
        picked = (picked ?? scores.map((score, index) => ({ index, score }))).filter((p) => p.score >= step.min);
      }
    }
    picked ??= scores.map((score, index) => ({ index, score }));
    out.push(picked.map((p) => (spec.labels?.[p.index] !== undefined ? { index: p.index, label: spec.labels[p.index], score: p.score } : p)));
  }
  return out;
}
