/**
 * `model.save('file://…')` and `tf.loadLayersModel('file://…')` in Node without tfjs-node: a
 * TF.js IOHandler over tsfreeze's TF.js reader (shards checked, bounded, only from the model's
 * folder) and its atomic writer (a save killed at any point leaves the previous save whole).
 * Importing tsfreeze registers it for `file://` URLs, unless tfjs-node (which registers its own)
 * is loaded, so that TF.js never finds two handlers for one URL.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CheckpointError } from './errors';
import { fileSource } from './source';
import { limitsFor } from './formats';
import { readTfjsArtifacts, cutIntoShards, DEFAULT_SHARD_BYTES } from './tfjs';
import { commitModelFiles } from './tfjs-commit';

/** Options of `fileSystem`. */
export interface FileSystemOptions {
  /** Largest weight shard written, in bytes (default 4 MiB, as tfjs-converter). */
  shardBytes?: number;
}

/** model.json for a path that names it or the folder holding it (`file://out` saves `out/model.json`, as tfjs-node does). */
function modelJsonPath(path: string, forLoad: boolean): string {
  if (path.endsWith('.json')) return path;
  if (forLoad) {
    try { if (!statSync(path).isDirectory()) return path; } catch { return path; }
  }
  return join(path, 'model.json');
}

/** A TF.js IOHandler that saves to and loads from a model.json (or a folder) on disk: `model.save(fileSystem('out'))`. */
export function fileSystem(path: string, opts: FileSystemOptions = {}): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new CheckpointError(path, 'has a binary model topology, which only JSON model.json files can hold', 'save a layers or graph model with a JSON topology');
      }
      const file = modelJsonPath(path, false);
      mkdirSync(dirname(file), { recursive: true });
      const data = artifacts.weightData === undefined ? [] : Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData];
      const pieces = data.map((b) => new Uint8Array(b));
      const total = pieces.reduce((n, p) => n + p.byteLength, 0);
      const shardBytes = opts.shardBytes ?? DEFAULT_SHARD_BYTES;
      if (!Number.isSafeInteger(shardBytes) || shardBytes <= 0) throw new CheckpointError(file, `shardBytes must be a positive integer, got ${shardBytes}`);
      // model.json's fields, as TF.js's own handlers write them (the manifest is added by the commit).
      const json: Record<string, unknown> = { modelTopology: artifacts.modelTopology, format: artifacts.format, generatedBy: artifacts.generatedBy, convertedBy: artifacts.convertedBy };
      for (const k of ['signature', 'userDefinedMetadata', 'modelInitializer', 'initializerSignature', 'trainingConfig'] as const) {
        if (artifacts[k] != null) json[k] = artifacts[k];
      }
      await commitModelFiles(file, { json, weights: artifacts.weightSpecs ?? [], shards: total ? cutIntoShards(pieces, shardBytes) : [] });
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const file = modelJsonPath(path, true);
      const src = fileSource(file);
      let bytes: Uint8Array;
      try { bytes = src.read(0, src.size); } finally { src.close(); }
      const { json, groups } = readTfjsArtifacts(bytes, file, limitsFor('tfjs'));
      // The manifest's own entries (validated by the reader) and each shard's bytes, in manifest order.
      const manifest = json.weightsManifest as tf.io.WeightsManifestConfig;
      const specs = manifest.flatMap((g) => g.weights);
      const buffers = groups.flatMap((g) => g.shards).map((s) => (s.byteOffset === 0 && s.byteLength === s.buffer.byteLength ? s.buffer as ArrayBuffer : s.slice().buffer));
      return tf.io.getModelArtifactsForJSONSync(json as unknown as tf.io.ModelJSON, specs, buffers);
    },
  };
}

/** Whether tfjs-node is loaded in this process (it registers file:// handlers of its own). */
function tfjsNodeLoaded(): boolean {
  return Object.keys(require.cache).some((k) => /[\\/]@tensorflow[\\/]tfjs-node(-gpu)?[\\/]/.test(k));
}

let registered = false;

/** Routes TF.js's `file://` URLs to `fileSystem` (once per process); importing tsfreeze calls it. */
export function registerFileSystemRouters(): void {
  if (registered) return;
  registered = true;
  const router = (url: string | string[]): tf.io.IOHandler | null => {
    if (typeof url !== 'string' || !url.startsWith('file://') || tfjsNodeLoaded()) return null;
    return fileSystem(url.slice('file://'.length));
  };
  type Router = Parameters<typeof tf.io.registerSaveRouter>[0];
  tf.io.registerSaveRouter(router as Router);
  tf.io.registerLoadRouter(router as Router);
}
