/**
 * TF.js layers models on disk: reading model.json and its weight shards for the converter, and a
 * directory IOHandler so that `model.save(tfjsDirectory(dir))` / `tf.loadLayersModel(tfjsDirectory(dir))`
 * work in Node without @tensorflow/tfjs-node. The only module in src/importers that touches files.
 * TensorFlow.js itself is not imported here (types only).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import type { io } from '@tensorflow/tfjs';
import { KilnError } from '../errors.js';
import { parseModelJson, type TfjsModelJson, type TfjsWeightSpec } from './tfjs-format.js';

/** A model.json read from disk with the bytes of all its weight files, in manifest order. */
export interface TfjsModelFiles {
  modelJson: TfjsModelJson;
  /** Every weight spec, in the order their bytes appear in `weightData`. */
  weightSpecs: TfjsWeightSpec[];
  weightData: Uint8Array;
  /** Names the file that holds byte `offset` of `weightData` (for error messages). */
  describeOffset: (offset: number) => string;
}

/** Read a layers model: model.json and every weight file it lists (relative to its folder). */
export function readTfjsModelFiles(modelJsonPath: string): TfjsModelFiles {
  if (!existsSync(modelJsonPath)) {
    throw new KilnError('FILE_NOT_FOUND', `${modelJsonPath}: no such file`, { hint: 'pass the path of a TF.js model.json' });
  }
  if (statSync(modelJsonPath).isDirectory()) {
    const inner = join(modelJsonPath, 'model.json');
    if (existsSync(inner)) return readTfjsModelFiles(inner);
    throw new KilnError('CONVERT', `${modelJsonPath}: is a folder without a model.json`, { hint: 'pass the path of a TF.js model.json' });
  }
  const modelJson = parseModelJson(readFileSync(modelJsonPath, 'utf8'), modelJsonPath);
  const baseDir = dirname(resolve(modelJsonPath));
  const chunks: Uint8Array[] = [];
  const spans: { end: number; file: string }[] = [];
  let total = 0;
  const weightSpecs: TfjsWeightSpec[] = [];
  for (const group of modelJson.weightsManifest) {
    const layers = [...new Set(group.weights.map((w) => (w.name.includes('/') ? w.name.slice(0, w.name.lastIndexOf('/')) : w.name)))];
    for (const path of group.paths) {
      const normalized = normalize(path);
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path) || isAbsolute(normalized) || normalized === '..' || normalized.startsWith('..' + sep)) {
        throw new KilnError('CONVERT', `${modelJsonPath}: weight file '${path}' is not inside the model's folder`, {
          hint: 'weight paths must be relative to model.json and stay in its folder',
        });
      }
      const file = join(baseDir, normalized);
      if (!existsSync(file)) {
        throw new KilnError(
          'CONVERT',
          `${modelJsonPath}: weight file '${path}' is missing (looked in ${baseDir}); it holds weights of layer(s) ${layers.map((l) => `'${l}'`).join(', ')}`,
          {
            hint: 'copy every .bin file that came with model.json next to it',
          },
        );
      }
      const bytes = readFileSync(file);
      chunks.push(bytes);
      total += bytes.byteLength;
      spans.push({ end: total, file: path });
    }
    weightSpecs.push(...group.weights);
  }
  const weightData = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  const describeOffset = (offset: number): string => {
    if (spans.length === 0) return 'the weight data (no weight files listed)';
    const span = spans.find((s) => offset < s.end) ?? spans[spans.length - 1];
    return `weight file '${span.file}'`;
  };
  return { modelJson, weightSpecs, weightData: new Uint8Array(weightData.buffer, weightData.byteOffset, weightData.byteLength), describeOffset };
}

export interface TfjsDirectoryOptions {
  /**
   * Largest weight file to write, in bytes; larger weight data is split into several shards.
   * @default 4194304 (4 MiB, as TF.js's own file handlers)
   */
  shardBytes?: number;
}

const toBytes = (data: io.WeightData | undefined): Uint8Array => {
  if (!data) return new Uint8Array(0);
  if (!Array.isArray(data)) return new Uint8Array(data);
  return new Uint8Array(Buffer.concat(data.map((b) => new Uint8Array(b))));
};

/**
 * A TF.js IOHandler that saves a layers model to `dir` as model.json + group1-shardXofY.bin, and loads
 * it back. Saving writes to temporary names first and renames, so a crash leaves no half model.
 */
export function tfjsDirectory(dir: string, options: TfjsDirectoryOptions = {}): io.IOHandler {
  const shardBytes = options.shardBytes ?? 4 * 1024 * 1024;
  if (!Number.isSafeInteger(shardBytes) || shardBytes < 1) throw new RangeError(`tfjsDirectory: shardBytes must be a positive integer, got ${shardBytes}`);
  return {
    async save(artifacts: io.ModelArtifacts): Promise<io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) throw new TypeError('tfjsDirectory: binary (GraphDef) topologies are not supported');
      mkdirSync(dir, { recursive: true });
      const data = toBytes(artifacts.weightData);
      const shards = Math.max(1, Math.ceil(data.byteLength / shardBytes));
      const paths = Array.from({ length: shards }, (_, i) => `group1-shard${i + 1}of${shards}.bin`);
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths, weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      const written: string[] = [];
      try {
        paths.forEach((p, i) => {
          const tmp = join(dir, `${p}.tmp-${process.pid}`);
          writeFileSync(tmp, data.subarray(i * shardBytes, Math.min((i + 1) * shardBytes, data.byteLength)));
          written.push(tmp);
        });
        const jsonTmp = join(dir, `model.json.tmp-${process.pid}`);
        writeFileSync(jsonTmp, JSON.stringify(modelJson));
        written.push(jsonTmp);
        for (const tmp of written) renameSync(tmp, tmp.slice(0, tmp.lastIndexOf('.tmp-')));
      } catch (err) {
        for (const tmp of written) rmSync(tmp, { force: true });
        throw err;
      }
      const json = JSON.stringify(artifacts.modelTopology);
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: json.length,
          weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length,
          weightDataBytes: data.byteLength,
        },
      };
    },
    async load(): Promise<io.ModelArtifacts> {
      const files = readTfjsModelFiles(join(dir, 'model.json'));
      const { weightData } = files;
      return {
        modelTopology: files.modelJson.modelTopology as object,
        format: files.modelJson.format,
        generatedBy: files.modelJson.generatedBy,
        convertedBy: files.modelJson.convertedBy,
        weightSpecs: files.weightSpecs as io.WeightsManifestEntry[],
        weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength) as ArrayBuffer,
      };
    },
  };
}
